"""Prometheus metrics beyond HTTP: messages, outbox lag, parked messages, partner calls.

What each process exposes (HTTP metrics live in :mod:`gateway.api.metrics`):

- From the database, computed at scrape time by :class:`StoreCollector`, so the figures
  are right however many ``serve`` and ``worker`` processes share the store (every
  instance reports the same global values: aggregate them with ``max``, not ``sum``):
  ``tthc_messages{type,status}`` (gauge), ``tthc_message_events_total{type,event}``
  (counter: published, delivered, retrying, parked, ... from the append-only timeline),
  ``tthc_outbox_pending`` and ``tthc_outbox_lag_seconds`` (age of the oldest unpublished
  row), ``tthc_messages_parked{type}`` (0 for every known type with none parked),
  ``tthc_workers{state}`` (registered worker processes, ``alive`` or ``silent``: a silent
  one's claims are taken over), ``tthc_replays_refused_total`` (replays refused as tampered
  or not stored, from the audit trail).
- From this process, by :class:`PartnerCallMetrics` (the adapters'
  :class:`~adapters.http.CallObserver`): ``tthc_partner_calls_total{partner,operation,
  outcome}`` and ``tthc_partner_call_duration_seconds{partner,operation}``; by
  :class:`RedriveMetrics` (a worker on RabbitMQ): ``tthc_messages_redriven_total{type}``,
  messages published again from the store because their delay tier did not give them back
  (:mod:`gateway.messaging.redrive`; 0 for every type until one is; sum over workers).

Rules:
- A scrape costs a few aggregate queries, never a scan of the whole timeline: event
  counters are kept incrementally above a high-water mark on the event id (primary key
  range). Only events older than ``settle_seconds`` are folded into the running totals
  (a PostgreSQL sequence may commit out of order; a transaction open longer than that is
  assumed not to exist); younger ones are counted afresh at each scrape.
- A database error during a scrape is not raised into the exposition: the families are
  left out and ``tthc_store_scrape_errors_total`` counts it.
- Scrapes do not drive the store's load: with ``cache_seconds`` > 0 (the processes use
  ``http.metrics_cache_seconds``, 5 s) the figures are computed at most once per
  interval whatever the scrape rate or concurrency. A scrape answers the last computed
  figures at once; when they are older than the interval it hands one refresh to a
  background thread (never more than one in flight), so a scrape never waits on the
  database, except the very first, which concurrent first scrapes share. With
  ``cache_seconds`` = 0 every scrape computes (tests).
- ``serve`` and ``run`` serve ``/metrics`` on an internal listener
  (``http.metrics_host``:``http.metrics_port``, 127.0.0.1:9107), the worker on
  ``worker.metrics_port`` (9108); the API's port serves it only when
  ``http.metrics_on_api`` is ``ops`` (an API key with the ``ops`` scope).
- Labels are low-cardinality: message types, statuses, event kinds, partner names and
  the adapters' fixed operation names; never identifiers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from adapters.http import CallOutcome
from gateway.domain.messages import MessageStatus, MessageType
from gateway.logging import get_logger
from gateway.messaging.redrive import Redriven
from gateway.store.db import read_tx, utcnow
from gateway.store.schema import audit, message_events, messages, outbox, workers

__all__ = [
    "PartnerCallMetrics",
    "RedriveMetrics",
    "StoreCollector",
    "register_store_metrics",
    "start_metrics_server",
]

log = get_logger(__name__)

#: Partner calls: from a fast lookup to a read timeout (the partners' default is 10 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

EventKey = tuple[str, str]  # (message type, event kind)


class PartnerCallMetrics:
    """Counts and times partner calls; pass it to ``PartnerHttp(observer=...)``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "tthc_partner_calls",
            "Calls to partners, by partner, operation and outcome.",
            ("partner", "operation", "outcome"),
            registry=registry,
        )
        self.latency = Histogram(
            "tthc_partner_call_duration_seconds",
            "Time a partner call took (retries included), by partner and operation.",
            ("partner", "operation"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, partner: str, operation: str, outcome: CallOutcome, seconds: float) -> None:
        self.calls.labels(partner, operation, outcome).inc()
        self.latency.labels(partner, operation).observe(seconds)


class RedriveMetrics:
    """Counts what the re-drive from the store published again; pass :meth:`observe` to
    :func:`gateway.messaging.redrive.redrive_job` as ``on_redriven``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.redriven = Counter(
            "tthc_messages_redriven",
            "Messages published again from the store because their delay tier did not give "
            "them back in time (re-drive), by type.",
            ("type",),
            registry=registry,
        )
        for message_type in MessageType:  # present at 0: an alert can use increase() at once
            self.redriven.labels(message_type.value)

    def observe(self, redriven: Sequence[Redriven]) -> None:
        for item in redriven:
            self.redriven.labels(item.type).inc()


class StoreCollector(Collector):
    """Message, outbox and parking figures read from the store at each scrape."""

    def __init__(
        self,
        engine: Engine,
        *,
        settle_seconds: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
        dead_after_seconds: float = 10.0,
        cache_seconds: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._state = threading.Lock()  # guards the snapshot and the refresher flag
        self._snapshot: tuple[float, list[Any]] | None = None  # (computed at, families)
        self._refreshing = False
        self._first_lock = threading.Lock()
        self._dead_after = timedelta(seconds=dead_after_seconds)
        self._settle = timedelta(seconds=settle_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._settled: Tally[EventKey] = Tally()
        self._high_water = 0  # events with id <= this are in _settled
        self._errors = 0

    def describe(self) -> list[Any]:
        return []  # names vary with the data; nothing to check at registration

    def collect(self) -> Iterator[Any]:
        families = self._compute() if self._cache_seconds <= 0 else self._cached()
        yield from families
        errors = CounterMetricFamily(
            "tthc_store_scrape_errors", "Scrapes whose store queries failed (this process)."
        )
        errors.add_metric([], self._errors)
        yield errors

    def _compute(self) -> list[Any]:
        """One set of store queries (serialised: the event totals are stateful)."""
        with self._lock:
            try:
                return self._families()
            except Exception as error:  # noqa: BLE001 - a scrape must answer
                self._errors += 1
                log.warning(
                    "store metrics unavailable", error=type(error).__name__, detail=str(error)[:200]
                )
                return []

    def _cached(self) -> list[Any]:
        """The last figures; a stale snapshot is refreshed in the background (module rules)."""
        with self._state:
            snapshot = self._snapshot
            stale = snapshot is None or self._monotonic() - snapshot[0] >= self._cache_seconds
            start_refresh = snapshot is not None and stale and not self._refreshing
            if start_refresh:
                self._refreshing = True
        if snapshot is None:
            return self._first()
        if start_refresh:
            threading.Thread(target=self._refresh, name="store-metrics", daemon=True).start()
        return snapshot[1]

    def _first(self) -> list[Any]:
        """The first figures, computed here; concurrent first scrapes share them."""
        with self._first_lock:  # a second first scrape waits for the first's figures
            with self._state:
                snapshot = self._snapshot
            if snapshot is not None:
                return snapshot[1]
            families = self._compute()
            with self._state:
                self._snapshot = (self._monotonic(), families)
            return families

    def _refresh(self) -> None:
        try:
            families = self._compute()
            with self._state:
                self._snapshot = (self._monotonic(), families)
        finally:
            with self._state:
                self._refreshing = False

    # -- queries ----------------------------------------------------------------------

    def _families(self) -> list[Any]:
        now = self._clock()
        with read_tx(self._engine) as connection:
            by_status = connection.execute(
                select(messages.c.type, messages.c.status, func.count()).group_by(
                    messages.c.type, messages.c.status
                )
            ).all()
            events = self._event_totals(connection, now)
            pending, oldest = connection.execute(
                select(func.count(), func.min(outbox.c.created_at)).select_from(outbox)
            ).one()
            parked = connection.execute(
                select(messages.c.type, func.count())
                .where(messages.c.status == MessageStatus.PARKED.value)
                .group_by(messages.c.type)
            ).all()
            refused_replays = connection.execute(
                select(func.count()).select_from(audit).where(audit.c.action == "replay_refused")
            ).scalar_one()
            registered = connection.execute(
                select(workers.c.heartbeat_at).where(workers.c.stopped_at.is_(None))
            ).scalars()
            heartbeats = [moment for moment in registered if moment is not None]
        messages_family = GaugeMetricFamily(
            "tthc_messages", "Messages in the store, by type and status.", labels=("type", "status")
        )
        for message_type, status, count in by_status:
            messages_family.add_metric([message_type, status], count)
        events_family = CounterMetricFamily(
            "tthc_message_events",
            "Timeline events recorded (published, delivered, retrying, parked, ...), by type.",
            labels=("type", "event"),
        )
        for (message_type, event), count in sorted(events.items()):
            events_family.add_metric([message_type, event], count)
        pending_family = GaugeMetricFamily("tthc_outbox_pending", "Messages not yet published.")
        pending_family.add_metric([], int(pending))
        lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        lag_family = GaugeMetricFamily(
            "tthc_outbox_lag_seconds", "Age of the oldest unpublished message (0 when none)."
        )
        lag_family.add_metric([], lag)
        parked_family = GaugeMetricFamily(
            "tthc_messages_parked", "Messages parked for an operator, by type.", labels=("type",)
        )
        parked_by_type = {str(t): 0 for t in MessageType} | {t: int(c) for t, c in parked}
        for message_type, count in sorted(parked_by_type.items()):
            parked_family.add_metric([message_type], count)
        alive = sum(1 for moment in heartbeats if now - moment < self._dead_after)
        workers_family = GaugeMetricFamily(
            "tthc_workers",
            "Registered worker processes: alive (heartbeat within dead_after) or silent.",
            labels=("state",),
        )
        workers_family.add_metric(["alive"], alive)
        workers_family.add_metric(["silent"], len(heartbeats) - alive)
        refused_family = CounterMetricFamily(
            "tthc_replays_refused",
            "Replays refused: the parked copy was tampered with, or is not a stored message.",
        )
        refused_family.add_metric([], int(refused_replays))
        return [
            refused_family,
            messages_family,
            events_family,
            pending_family,
            lag_family,
            parked_family,
            workers_family,
        ]

    def _event_totals(self, connection: Connection, now: datetime) -> Tally[EventKey]:
        """Settled totals advanced past newly settled events, plus the unsettled ones."""
        newer = message_events.c.id > self._high_water
        settled_up_to = connection.execute(
            select(func.max(message_events.c.id)).where(
                newer, message_events.c.at < now - self._settle
            )
        ).scalar_one()
        if settled_up_to is not None:
            self._settled.update(
                self._count_events(connection, self._high_water, int(settled_up_to))
            )
            self._high_water = int(settled_up_to)
        totals = Tally(self._settled)
        totals.update(self._count_events(connection, self._high_water, None))
        return totals

    @staticmethod
    def _count_events(connection: Connection, after: int, up_to: int | None) -> Tally[EventKey]:
        condition = message_events.c.id > after
        if up_to is not None:
            condition = condition & (message_events.c.id <= up_to)
        rows = connection.execute(
            select(messages.c.type, message_events.c.event, func.count())
            .select_from(
                message_events.join(messages, messages.c.id == message_events.c.message_id)
            )
            .where(condition)
            .group_by(messages.c.type, message_events.c.event)
        ).all()
        return Tally({(message_type, event): int(count) for message_type, event, count in rows})


def register_store_metrics(
    registry: CollectorRegistry,
    engine: Engine,
    *,
    settle_seconds: float = 60.0,
    cache_seconds: float = 5.0,
) -> StoreCollector:
    """Register a :class:`StoreCollector` on ``registry`` (once per registry)."""
    collector = StoreCollector(engine, settle_seconds=settle_seconds, cache_seconds=cache_seconds)
    registry.register(collector)
    return collector


def start_metrics_server(
    registry: CollectorRegistry, host: str, port: int
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread.

    The internal listener of every process (``worker``; ``serve`` and ``run`` on
    ``http.metrics_port``), apart from the API's port. Stop with ``server.shutdown()`` then
    ``server.server_close()``.
    """
    server, thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics server started", host=host, port=server.server_port)
    return server, thread
