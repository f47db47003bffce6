"""Running the gateway's parts in one process: API server, relay, workers, periodic jobs, mocks.

Rules:
- ``serve`` runs only the API; ``worker`` the relay, the consumers and the periodic
  jobs; ``run`` all of them (and the mocks when ``mocks.enabled``). Any number of each
  can run side by side on RabbitMQ + PostgreSQL: nothing in one process's memory is
  needed by another.
- The API process serves ``/metrics`` on its internal listener (``http.metrics_port``),
  started with the API server and stopped with it, never on the API's port unless
  ``http.metrics_on_api`` is ``ops``; Swagger UI only with ``http.swagger_ui``.
- SIGTERM/SIGINT set one stop event: consumers finish the batch in hand and leave the
  rest unacknowledged (delivered again), the relay stops between batches, the API
  server shuts down gracefully, the evidence chain is checkpointed on close.
- Periodic jobs (payment reconciliation, forgetting old portal nonces and expired
  idempotency records, evidence checkpoints) run in the worker; a failing job is
  logged (once per streak of failures) and tried again at its next interval, never
  crashing the process.
- The database going away stops no thread: the relay and the jobs retry with backoff, the
  consumer pauses until the store answers again (:mod:`gateway.messaging.store_gate`);
  each logs the outage when it starts and when it ends.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any
from wsgiref.simple_server import WSGIServer

import uvicorn

from gateway.bootstrap import Gateway, mock_settings
from gateway.flows.acceptor import acceptance_evidence
from gateway.flows.delivery import city_handlers, portal_handlers
from gateway.logging import get_logger
from gateway.messaging.embedded import EmbeddedTransport
from gateway.messaging.liveness import Liveness
from gateway.messaging.port import ALL_TYPES
from gateway.messaging.relay import OutboxRelay
from gateway.messaging.store_gate import consume_through_outages
from gateway.messaging.worker import Worker
from gateway.metrics import start_metrics_server
from gateway.ops.reconcile import reconcile_job
from gateway.store.ledger import Ledger
from gateway.store.outage import OutageLog, describe, is_store_unavailable, ping
from gateway.store.workers import WorkerRegistry, new_worker_id

log = get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)  # for OutageLog's %-style lines


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[[], Any]


def periodic_jobs(gateway: Gateway) -> list[Job]:
    settings = gateway.settings
    jobs = [
        Job("evidence-checkpoint", 5.0, gateway.evidence.maybe_checkpoint),
        Job("idempotency-purge", 3600.0, gateway.idempotency.purge_expired),
        Job("worker-registry-purge", 3600.0, WorkerRegistry(gateway.engine).purge),
        Job(
            "parked-reconcile",
            60.0,
            partial(reconcile_job, gateway.store, gateway.transport, gateway.verifier),
        ),
    ]
    if gateway.portal_push is not None:
        jobs.append(Job("portal-nonce-purge", 600.0, gateway.portal_push.purge))
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
    outages = {job.name: OutageLog(f"periodic job {job.name}", _stdlib_log) for job in jobs}
    while not stop.wait(0.5):
        now = time.monotonic()
        for job in jobs:
            if now < due[job.name]:
                continue
            due[job.name] = now + job.every_seconds
            try:
                job.run()
            except Exception as error:  # noqa: BLE001 - a job failure must not stop the worker
                outages[job.name].failed(error)  # logged once per streak (a store outage)
                continue
            outages[job.name].recovered()


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
    work = settings.worker
    lease = timedelta(seconds=work.lease_seconds)
    dead_after = timedelta(seconds=work.dead_after_seconds)
    worker_id = new_worker_id()
    worker = Worker(
        gateway.transport,
        gateway.verifier,
        Ledger(gateway.engine, worker_id=worker_id, dead_after=dead_after),
        gateway.store,
        gateway.evidence,
        message_handlers(gateway),
        settings.worker.consumer_name,
        body_policy="encrypted" if gateway.evidence_key else "digest",
        lease=lease,
        max_batch=settings.worker.max_batch,
        completion=settings.worker.completion,
    )
    liveness = Liveness(
        WorkerRegistry(gateway.engine, dead_after=dead_after),
        interval=work.heartbeat_seconds,
        lease=lease,
        worker_id=worker_id,
        renewers=[worker.renew_leases],
    )
    transport = gateway.transport
    if isinstance(transport, EmbeddedTransport):  # its rows name the worker too
        transport.consumer_id = worker_id
        transport.dead_after = dead_after
        transport.lease = lease
        liveness.renewers.append(transport.renew)
    liveness.register()
    threads = [
        threading.Thread(target=liveness.run, args=(stop,), name="heartbeat", daemon=True),
        threading.Thread(target=relay.run, args=(stop,), name="outbox-relay", daemon=True),
        threading.Thread(
            target=consume_through_outages,
            args=(worker.transport, list(worker.handlers), worker.handle_batch),
            kwargs={
                "probe": partial(ping, gateway.engine),
                "stop": stop,
                "max_batch": worker.max_batch,
            },
            name="worker",
            daemon=True,
        ),
        threading.Thread(
            target=_run_jobs, args=(periodic_jobs(gateway), stop), name="jobs", daemon=True
        ),
    ]
    for thread in threads:
        thread.start()
    log.info(
        "worker started",
        types=sorted(worker.handlers),
        consumer=settings.worker.consumer_name,
        worker_id=worker_id,
    )
    return threads


def close_gateway(gateway: Gateway) -> None:
    """``gateway.close()``, also when the store is away: the final evidence checkpoint is
    then left undone (logged) and the rest is closed."""
    try:
        gateway.close()
    except Exception as error:
        if not is_store_unavailable(error):
            raise
        _stdlib_log.warning(
            "closing: the store is unavailable (%s); the final evidence checkpoint is not "
            "written (records since the last one are protected by the chain only, as after "
            "a crash)",
            describe(error),
        )
        if "transport" in gateway.__dict__:
            gateway.transport.close()
        gateway.engine.dispose()


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


class ApiServer(uvicorn.Server):
    """The API's uvicorn server, with the process's internal ``/metrics`` listener
    (``http.metrics_host``:``http.metrics_port``) started before it and stopped after."""

    def __init__(self, config: uvicorn.Config, registry: Any, host: str, port: int) -> None:
        super().__init__(config)
        self._metrics_at = (registry, host, port)
        self.metrics_server: WSGIServer | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        registry, host, port = self._metrics_at
        if port and self.metrics_server is None:
            try:
                self.metrics_server, _ = start_metrics_server(registry, host, port)
            except OSError as error:  # e.g. a second serve on this host: the API still runs
                log.warning(
                    "metrics listener not started; give each process its own"
                    " http.metrics_port (TTHC_HTTP__METRICS_PORT)",
                    host=host,
                    port=port,
                    error=type(error).__name__,
                )
        await super().startup(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().shutdown(sockets)
        finally:
            if self.metrics_server is not None:
                self.metrics_server.shutdown()
                self.metrics_server.server_close()
                self.metrics_server = None


def api_server(gateway: Gateway) -> ApiServer:
    """The API on ``http.host``:``http.port``: Swagger UI only when ``http.swagger_ui``;
    ``/metrics`` on the internal listener, and on the API's port only behind the ops
    scope when ``http.metrics_on_api`` is ``ops``."""
    from gateway.api.app import create_app

    http = gateway.settings.http
    app = create_app(
        gateway.api_services(),
        validate_responses=http.validate_responses,
        swagger_ui=http.swagger_ui,
        metrics_access=http.metrics_on_api,
    )
    config = uvicorn.Config(
        app, host=http.host, port=http.port, log_config=None, access_log=False, lifespan="on"
    )
    return ApiServer(config, gateway.metrics, http.metrics_host, http.metrics_port)
