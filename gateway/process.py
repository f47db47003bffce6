"""Running the gateway's parts in one process: API server, relay, workers, periodic jobs, mocks.

Rules:
- It runs what it is given: :mod:`gateway.bootstrap` builds each role
  (``build_serve``, ``build_worker``, ``build_run``) as a :class:`Role`, and
  :func:`run_role` runs it. Nothing here reads settings or constructs a store, a
  transport, a flow or a partner client; this module imports nothing of the
  composition root.
- ``serve`` runs only the API; ``worker`` the relay, the consumers and the periodic
  jobs; ``run`` all of them (and the mocks when ``mocks.enabled``). Any number of each
  can run side by side on RabbitMQ + PostgreSQL: nothing in one process's memory is
  needed by another.
- The API process serves ``/metrics`` on its internal listener (``http.metrics_port``),
  started with the API server and stopped with it, never on the API's port unless
  ``http.metrics_on_api`` is ``ops``; Swagger UI only with ``http.swagger_ui``. A
  ``worker`` serves it on its own listener (``worker.metrics_port``).
- SIGTERM/SIGINT set one stop event: consumers finish the batch in hand and leave the
  rest unacknowledged (delivered again), the relay stops between batches, the API
  server shuts down gracefully, the evidence chain is checkpointed on close. A worker
  thread that dies stops the ``worker`` process (:class:`ProcessFailed`).
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
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIServer

import uvicorn
from prometheus_client import CollectorRegistry

from gateway.logging import get_logger
from gateway.messaging.liveness import Liveness
from gateway.messaging.relay import OutboxRelay
from gateway.messaging.store_gate import consume_through_outages
from gateway.messaging.worker import Worker, stop_on_signals
from gateway.metrics import start_metrics_server
from gateway.store.outage import OutageLog

log = get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)  # for OutageLog's %-style lines


class ProcessFailed(Exception):
    """The role cannot go on (the mocks did not start, a worker thread died); the
    process has been stopped and closed when this is raised."""


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[[], Any]


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


@dataclass(frozen=True)
class WorkerParts:
    """The worker role as built: the outbox relay, the consumer, the heartbeat that renews
    its leases, the periodic jobs, and the store probe the consumer waits on in an outage."""

    relay: OutboxRelay
    worker: Worker
    liveness: Liveness
    jobs: list[Job]
    store_probe: Callable[[], object]
    worker_id: str


def start_threads(parts: WorkerParts, stop: threading.Event) -> list[threading.Thread]:
    """Register the worker, then run the heartbeat, the relay, the consumer and the jobs
    as daemon threads until ``stop``."""
    worker = parts.worker
    parts.liveness.register()
    threads = [
        threading.Thread(target=parts.liveness.run, args=(stop,), name="heartbeat", daemon=True),
        threading.Thread(target=parts.relay.run, args=(stop,), name="outbox-relay", daemon=True),
        threading.Thread(
            target=consume_through_outages,
            args=(worker.transport, list(worker.handlers), worker.handle_batch),
            kwargs={"probe": parts.store_probe, "stop": stop, "max_batch": worker.max_batch},
            name="worker",
            daemon=True,
        ),
        threading.Thread(target=_run_jobs, args=(parts.jobs, stop), name="jobs", daemon=True),
    ]
    for thread in threads:
        thread.start()
    log.info(
        "worker started",
        types=sorted(worker.handlers),
        consumer=worker.consumer_name,
        worker_id=parts.worker_id,
    )
    return threads


def uvicorn_server(app: Any, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on"
    )
    return uvicorn.Server(config)


def start_server_thread(server: uvicorn.Server, name: str) -> threading.Thread:
    """Run ``server`` in a daemon thread; return once it has started (or after 15 s, or when
    it has stopped: check ``server.started``)."""
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    return thread


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


@dataclass(frozen=True)
class MetricsListener:
    """An internal ``/metrics`` listener the process runs beside its parts."""

    registry: CollectorRegistry
    host: str
    port: int


@dataclass(frozen=True)
class Role:
    """One process role as the composition root built it: what to run and how to close.

    ``api`` runs in the main thread (uvicorn handles SIGTERM/SIGINT); without it, the
    process waits on the stop event that those signals set."""

    name: str
    close: Callable[[], None]
    api: ApiServer | None = None
    workers: WorkerParts | None = None
    mocks: uvicorn.Server | None = None
    metrics: MetricsListener | None = None
    stop: threading.Event = field(default_factory=threading.Event)


def run_role(role: Role, *, on_started: Callable[[], None] | None = None) -> None:
    """Run ``role`` until it is stopped (a signal, or the API server shutting down), then
    stop every thread and close what it was built on. ``on_started`` is called once every
    part runs but the API (e.g. to print a banner)."""
    stop = role.stop
    threads: list[threading.Thread] = []
    metrics_server: WSGIServer | None = None
    try:
        if role.mocks is not None:
            start_server_thread(role.mocks, "mocks")
            if not role.mocks.started:
                config = role.mocks.config
                raise ProcessFailed(f"the mocks did not start on {config.host}:{config.port}")
        if role.api is None:
            stop_on_signals(stop)
        if role.workers is not None:
            threads = start_threads(role.workers, stop)
        if role.metrics is not None:
            metrics = role.metrics
            metrics_server, _ = start_metrics_server(metrics.registry, metrics.host, metrics.port)
        if on_started is not None:
            on_started()
        if role.api is not None:
            role.api.run()
            return
        while not stop.wait(1.0):
            if not all(thread.is_alive() for thread in threads):
                raise ProcessFailed("a worker thread stopped unexpectedly; see the log above")
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        stop.set()
        if role.mocks is not None:
            role.mocks.should_exit = True
        for thread in threads:
            thread.join(timeout=30)
        role.close()
