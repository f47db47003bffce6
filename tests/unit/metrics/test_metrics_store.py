"""The store collector against a real migrated store with messages in known states.

Each test runs on SQLite and, marked ``integration``, on PostgreSQL (a schema of its own).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import update

from gateway.domain.messages import Envelope
from gateway.metrics import StoreCollector
from gateway.store.db import utcnow, write_tx
from gateway.store.message_views import EventRecord
from gateway.store.messages import MessageStore
from gateway.store.schema import outbox
from gateway.testing import LocalStack, local_stack

SYNC = "portal.dossier.sync"
SUBMITTED = "city.dossier.submitted"


class Clock:
    """A settable 'now' for the collector (the store's own clock stays real)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalStack]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    stack = local_stack(tmp_path, url)
    yield stack
    stack.evidence.close()
    stack.engine.dispose()


def accept(store: MessageStore, message_type: str) -> str:
    message_id = str(uuid.uuid4())
    envelope = Envelope(
        message_id=message_id,
        type=message_type,
        recipient="portal" if message_type.startswith("portal") else "city",
        correlation_id=str(uuid.uuid4()),
        timestamp=utcnow(),
        body=b'{"dossier": "H26.99-241127-0001"}',
        jws="header..signature",
        headers={},
    )
    assert store.accept(envelope, dossier_code="H26.99-241127-0001", partner="portal")
    return message_id


def deliver(store: MessageStore, message_id: str) -> None:
    store.record_events(
        [
            EventRecord(message_id, "attempt_started", attempt=1),
            EventRecord(message_id, "delivered", status="delivered"),
        ]
    )


def park(store: MessageStore, message_id: str) -> None:
    store.record_events(
        [
            EventRecord(message_id, "attempt_started", attempt=1),
            EventRecord(message_id, "retrying", status="retrying", detail="portal timeout"),
            EventRecord(message_id, "attempt_started", attempt=2),
            EventRecord(message_id, "parked", status="parked", detail="portal refused"),
        ]
    )


def scrape(collector: StoreCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def populate(store: MessageStore) -> dict[str, list[str]]:
    """3 sync (1 still in the outbox, 1 delivered, 1 parked), 2 submitted (delivered)."""
    syncs = [accept(store, SYNC) for _ in range(3)]
    submitted = [accept(store, SUBMITTED) for _ in range(2)]
    store.mark_published(syncs[1:] + submitted)
    deliver(store, syncs[1])
    park(store, syncs[2])
    for message_id in submitted:
        deliver(store, message_id)
    return {"sync": syncs, "submitted": submitted}


@pytest.mark.parametrize("settled", [False, True], ids=["recent", "settled"])
def test_counts_are_exact(stack: LocalStack, settled: bool) -> None:
    populate(stack.store)
    clock = Clock()
    if settled:
        clock.now += timedelta(hours=1)  # every event is older than the settle window
    registry = scrape(StoreCollector(stack.engine, settle_seconds=60, clock=clock))

    assert value(registry, "tthc_messages", type=SYNC, status="accepted") == 1
    assert value(registry, "tthc_messages", type=SYNC, status="delivered") == 1
    assert value(registry, "tthc_messages", type=SYNC, status="parked") == 1
    assert value(registry, "tthc_messages", type=SUBMITTED, status="delivered") == 2
    assert value(registry, "tthc_messages", type=SUBMITTED, status="accepted") is None

    events = "tthc_message_events_total"
    assert value(registry, events, type=SYNC, event="accepted") == 3
    assert value(registry, events, type=SYNC, event="published") == 2
    assert value(registry, events, type=SYNC, event="attempt_started") == 3
    assert value(registry, events, type=SYNC, event="delivered") == 1
    assert value(registry, events, type=SYNC, event="retrying") == 1
    assert value(registry, events, type=SYNC, event="parked") == 1
    assert value(registry, events, type=SUBMITTED, event="accepted") == 2
    assert value(registry, events, type=SUBMITTED, event="published") == 2
    assert value(registry, events, type=SUBMITTED, event="delivered") == 2
    assert value(registry, events, type=SUBMITTED, event="parked") is None

    assert value(registry, "tthc_outbox_pending") == 1
    assert value(registry, "tthc_messages_parked", type=SYNC) == 1
    assert value(registry, "tthc_messages_parked", type=SUBMITTED) == 0
    assert value(registry, "tthc_store_scrape_errors_total") == 0


def test_event_counters_advance_without_double_counting(stack: LocalStack) -> None:
    """Totals folded past the high-water mark plus unsettled events, scrape after scrape."""
    clock = Clock()
    collector = StoreCollector(stack.engine, settle_seconds=60, clock=clock)
    registry = scrape(collector)
    first = accept(stack.store, SYNC)
    deliver(stack.store, first)
    events = "tthc_message_events_total"
    assert value(registry, events, type=SYNC, event="delivered") == 1  # unsettled

    clock.now = utcnow() + timedelta(hours=1)  # the first message's events settle
    assert value(registry, events, type=SYNC, event="delivered") == 1
    second = accept(stack.store, SYNC)
    deliver(stack.store, second)
    clock.now = utcnow()  # the second message's events are recent
    assert value(registry, events, type=SYNC, event="delivered") == 2
    assert value(registry, events, type=SYNC, event="accepted") == 2

    clock.now = utcnow() + timedelta(hours=2)  # all settled; scraped repeatedly
    for _ in range(3):
        assert value(registry, events, type=SYNC, event="delivered") == 2
        assert value(registry, events, type=SYNC, event="attempt_started") == 2


def test_outbox_lag_is_the_age_of_the_oldest_pending_row(stack: LocalStack) -> None:
    clock = Clock()
    registry = scrape(StoreCollector(stack.engine, clock=clock))
    assert value(registry, "tthc_outbox_pending") == 0
    assert value(registry, "tthc_outbox_lag_seconds") == 0

    old, recent = accept(stack.store, SYNC), accept(stack.store, SUBMITTED)
    with write_tx(stack.engine) as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.message_id == old)
            .values(created_at=clock.now - timedelta(seconds=90))
        )
    assert value(registry, "tthc_outbox_pending") == 2
    lag = value(registry, "tthc_outbox_lag_seconds")
    assert lag is not None and 90 <= lag < 91

    stack.store.mark_published([old])
    lag = value(registry, "tthc_outbox_lag_seconds")
    assert lag is not None and lag < 5  # only ``recent`` is left, accepted just now
    stack.store.mark_published([recent])
    assert value(registry, "tthc_outbox_lag_seconds") == 0


def test_a_failing_store_is_counted_not_raised(stack: LocalStack) -> None:
    registry = scrape(StoreCollector(stack.engine))
    assert value(registry, "tthc_outbox_pending") == 0
    with write_tx(stack.engine) as connection:
        connection.exec_driver_sql("ALTER TABLE outbox RENAME TO outbox_gone")
    assert value(registry, "tthc_outbox_pending") is None  # this scrape failed...
    assert value(registry, "tthc_store_scrape_errors_total") == 2  # ...and this one


def test_worker_liveness_is_counted_alive_or_silent(stack: LocalStack) -> None:
    from gateway.store.schema import workers
    from gateway.store.workers import WorkerRegistry

    registry = WorkerRegistry(stack.engine)
    for worker_id in ("w-alive", "w-killed", "w-stopped"):
        registry.register(worker_id)
    registry.deregister("w-stopped")  # a clean stop is not counted at all
    with write_tx(stack.engine) as connection:
        connection.execute(
            update(workers)
            .where(workers.c.worker_id == "w-killed")
            .values(heartbeat_at=utcnow() - timedelta(minutes=1))
        )
    collector = StoreCollector(stack.engine, dead_after_seconds=10)
    registry_ = CollectorRegistry()
    registry_.register(collector)
    assert registry_.get_sample_value("tthc_workers", {"state": "alive"}) == 1
    assert registry_.get_sample_value("tthc_workers", {"state": "silent"}) == 1


def test_refused_replays_are_counted_from_the_audit_trail(stack: LocalStack) -> None:
    from gateway.store.audit import AuditTrail

    trail = AuditTrail(stack.engine)
    trail.record("os:a", "replay_refused", "message:m-1", "runbook", {"outcome": "tampered"})
    trail.record("os:a", "replay", "message:m-2", "runbook", {"replay_count": 1})
    registry_ = CollectorRegistry()
    registry_.register(StoreCollector(stack.engine))
    assert registry_.get_sample_value("tthc_replays_refused_total") == 1
