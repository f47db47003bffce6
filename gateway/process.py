"""Running the gateway's parts in one process: API server, relay, workers, periodic jobs, mocks.

Rules:
- ``serve`` runs only the API; ``worker`` the relay, the consumers and the periodic
  jobs; ``run`` all of them (and the mocks when ``mocks.enabled``). Any number of each
  can run side by side on RabbitMQ + PostgreSQL: nothing in one process's memory is
  needed by another.
- SIGTERM/SIGINT set one stop event: consumers finish the batch in hand and leave the
  rest unacknowledged (delivered again), the relay stops between batches, the API
  server shuts down gracefully, the evidence chain is checkpointed on close.
- Periodic jobs (payment reconciliation, forgetting old portal nonces and expired
  idempotency records, evidence checkpoints) run in the worker; a failing job is
  logged and tried again at its next interval, never crashing the process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import uvicorn

from gateway.bootstrap import Gateway, mock_settings
from gateway.flows.acceptor import acceptance_evidence
from gateway.flows.delivery import city_handlers, portal_handlers
from gateway.flows.portal_push import PortalPushVerifier
from gateway.logging import get_logger
from gateway.messaging.port import ALL_TYPES
from gateway.messaging.relay import OutboxRelay
from gateway.messaging.worker import Worker
from gateway.store.idempotency import IdempotencyStore
from gateway.store.ledger import Ledger

log = get_logger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[[], Any]


def periodic_jobs(gateway: Gateway) -> list[Job]:
    settings = gateway.settings
    jobs = [
        Job("evidence-checkpoint", 5.0, gateway.evidence.maybe_checkpoint),
        Job("idempotency-purge", 3600.0, IdempotencyStore(gateway.engine).purge_expired),
    ]
    secret = settings.callbacks.portal_secret.get_secret_value()
    if secret:
        jobs.append(
            Job("portal-nonce-purge", 600.0, PortalPushVerifier(gateway.engine, secret).purge)
        )
    if settings.adapters.payment.url:
        jobs.append(
            Job(
                "payment-reconciliation",
                settings.adapters.payment.reconcile_interval_seconds,
                gateway.payments.reconcile,
            )
        )
    return jobs


def _run_jobs(jobs: list[Job], stop: threading.Event) -> None:
    due = {job.name: time.monotonic() + min(job.every_seconds, 5.0) for job in jobs}
    while not stop.wait(0.5):
        now = time.monotonic()
        for job in jobs:
            if now < due[job.name]:
                continue
            due[job.name] = now + job.every_seconds
            try:
                job.run()
            except Exception as error:  # noqa: BLE001 - a job failure must not stop the worker
                log.warning(
                    "periodic job failed",
                    job=job.name,
                    error=type(error).__name__,
                    detail=str(error)[:300],
                )


def message_handlers(gateway: Gateway) -> dict[str, Callable[..., object]]:
    handlers: dict[str, Callable[..., object]] = {}
    adapters = gateway.settings.adapters
    if adapters.portal.url:
        handlers.update(portal_handlers(gateway.portal))
    if adapters.city.url:
        handlers.update(city_handlers(gateway.city))
    wanted = gateway.settings.worker.message_types or ALL_TYPES
    return {t: h for t, h in handlers.items() if t in wanted}


def start_worker_threads(gateway: Gateway, stop: threading.Event) -> list[threading.Thread]:
    """The outbox relay, one consumer per process, and the periodic jobs, as threads."""
    settings = gateway.settings
    gateway.transport.declare()
    relay = OutboxRelay(
        gateway.store,
        gateway.transport,
        settings.worker.relay_batch_size,
        on_published=acceptance_evidence(
            gateway.evidence.append_many, "encrypted" if gateway.evidence_key else "digest"
        ),
    )
    worker = Worker(
        gateway.transport,
        gateway.verifier,
        Ledger(gateway.engine),
        gateway.store,
        gateway.evidence,
        message_handlers(gateway),
        settings.worker.consumer_name,
        body_policy="encrypted" if gateway.evidence_key else "digest",
        lease=timedelta(minutes=5),
        max_batch=settings.worker.max_batch,
        completion=settings.worker.completion,
    )
    threads = [
        threading.Thread(target=relay.run, args=(stop,), name="outbox-relay", daemon=True),
        threading.Thread(target=worker.run, args=(stop,), name="worker", daemon=True),
        threading.Thread(
            target=_run_jobs, args=(periodic_jobs(gateway), stop), name="jobs", daemon=True
        ),
    ]
    for thread in threads:
        thread.start()
    log.info(
        "worker started", types=sorted(worker.handlers), consumer=settings.worker.consumer_name
    )
    return threads


def uvicorn_server(app: Any, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on"
    )
    return uvicorn.Server(config)


def start_mocks(gateway: Gateway) -> tuple[uvicorn.Server, threading.Thread]:
    from mocks.server import build_app

    settings = gateway.settings
    server = uvicorn_server(
        build_app(mock_settings(settings)), settings.mocks.host, settings.mocks.port
    )
    thread = threading.Thread(target=server.run, name="mocks", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    return server, thread


def api_server(gateway: Gateway) -> uvicorn.Server:
    from gateway.api.app import create_app

    settings = gateway.settings
    app = create_app(
        gateway.api_services(),
        validate_responses=settings.http.validate_responses,
        swagger_ui=True,
    )
    return uvicorn_server(app, settings.http.host, settings.http.port)
