"""The re-drive from the store (gateway.messaging.redrive) on a real SQLite store and real keys.

No broker: the transport records what it is asked to publish (or refuses it). Must show: only
overdue messages whose status is not final are published, exactly those, as stored; their
``due_at`` is pushed one grace ahead; each gets one ``redriven`` event and keeps its status;
``limit`` holds; a failed publish records nothing and loses nothing; a re-driven copy the
worker already handled is acked without calling the handler.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from sqlalchemy import select, update

from gateway.domain.messages import Envelope
from gateway.messaging.codec import now_utc
from gateway.messaging.port import Delivery, PublishFailed, RetryPolicy
from gateway.messaging.redrive import redrive, redrive_job
from gateway.messaging.worker import Worker
from gateway.metrics import RedriveMetrics
from gateway.settings_model import BrokerSettings
from gateway.store.batch_timeline import BatchTimeline
from gateway.store.ledger import Ledger
from gateway.store.messages import Acceptance, EventRecord
from gateway.store.schema import messages
from gateway.testing import LocalStack, local_stack

SYNC = "portal.dossier.sync"
GRACE = timedelta(seconds=30)


class RecordingTransport:
    """Publishes nowhere: remembers every batch it was asked to publish, or refuses them."""

    retry_policy = RetryPolicy(delays=(5.0, 30.0), max_attempts=3)

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.batches: list[list[Envelope]] = []

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        if self.fail:
            raise PublishFailed("broker refused (nack) 1 message(s)")
        self.batches.append(list(envelopes))

    @property
    def published(self) -> list[str]:
        return [envelope.message_id for batch in self.batches for envelope in batch]


@pytest.fixture
def stack(tmp_path: Path) -> LocalStack:
    return local_stack(tmp_path)


def accept(stack: LocalStack, message_id: str, *, status: str = "published") -> Envelope:
    envelope = stack.signer.sign(
        message_id=message_id,
        type=SYNC,
        recipient="portal",
        body=f'{{"MaHoSo": "{message_id}"}}'.encode(),
        correlation_id=f"corr-{message_id}",
        headers={"x-dossier-code": "000.00.00.H26-241120-0001"},
    )
    stack.store.accept_many([Acceptance(envelope, None, "portal")])
    if status != "accepted":
        stack.store.record_events([EventRecord(message_id, status, status=status)])
    return envelope


def set_due(stack: LocalStack, message_id: str, due: datetime | None) -> None:
    with stack.engine.begin() as connection:
        connection.execute(update(messages).where(messages.c.id == message_id).values(due_at=due))


def due_at(stack: LocalStack, message_id: str) -> datetime | None:
    with stack.engine.connect() as connection:
        value: datetime | None = connection.execute(
            select(messages.c.due_at).where(messages.c.id == message_id)
        ).scalar_one()
    return value


def overdue(stack: LocalStack, message_id: str, seconds: float, *, status: str = "published") -> Envelope:
    envelope = accept(stack, message_id, status=status)
    set_due(stack, message_id, now_utc() - timedelta(seconds=seconds))
    return envelope


def timeline(stack: LocalStack, message_id: str) -> list[str]:
    view = stack.store.get(message_id)
    assert view is not None
    return [e.event for e in view.timeline]


def test_only_overdue_messages_not_yet_delivered_are_published_exactly_as_stored(
    stack: LocalStack,
) -> None:
    stranded = overdue(stack, "m-published", 120)
    overdue(stack, "m-retrying", 300, status="retrying")
    overdue(stack, "m-in-grace", 10)  # due 10 s ago: its tier may still give it back
    accept(stack, "m-not-due")
    set_due(stack, "m-not-due", now_utc() + timedelta(seconds=60))
    accept(stack, "m-never-deferred")  # due_at NULL
    for final in ("delivered", "parked", "failed"):
        overdue(stack, f"m-{final}", 600, status=final)
    overdue(stack, "m-accepted", 600, status="accepted")  # the outbox's to publish
    overdue(stack, "m-replayed", 600, status="replayed")  # the store lacks the re-signed copy
    transport = RecordingTransport()
    done = redrive(stack.store, transport, grace=GRACE)  # type: ignore[arg-type]
    assert transport.published == ["m-retrying", "m-published"]  # most overdue first
    assert len(transport.batches) == 1  # one confirmed batch
    assert [(r.message_id, r.status) for r in done] == [
        ("m-retrying", "retrying"),
        ("m-published", "published"),
    ]
    assert 119 <= done[1].overdue_seconds < 125
    copy = transport.batches[0][1]
    assert (copy.body, copy.jws, copy.type, copy.recipient, copy.correlation_id) == (
        stranded.body,
        stranded.jws,
        stranded.type,
        stranded.recipient,
        stranded.correlation_id,
    )
    assert copy.headers["x-dossier-code"] == "000.00.00.H26-241120-0001"


def test_each_re_driven_message_gets_one_event_keeps_its_status_and_waits_twice_as_long(
    stack: LocalStack,
) -> None:
    overdue(stack, "m-1", 120)
    overdue(stack, "m-2", 45, status="retrying")
    before = now_utc()
    redrive(stack.store, RecordingTransport(), grace=GRACE)  # type: ignore[arg-type]
    for message_id, status, late in (("m-1", "published", 120), ("m-2", "retrying", 45)):
        view = stack.store.get(message_id)
        assert view is not None
        assert view.status == status
        last = view.timeline[-1]
        assert (last.event, last.status) == ("redriven", None)
        assert last.detail is not None and "from the store" in last.detail
        assert timeline(stack, message_id).count("redriven") == 1
        due = due_at(stack, message_id)  # pushed by how overdue it was (>= one grace)
        wait = max(GRACE, timedelta(seconds=late))
        assert due is not None and before + wait - timedelta(seconds=1) <= due
        assert due <= now_utc() + wait + timedelta(seconds=1)
    assert "due 120 s ago" in (stack.store.get("m-1").timeline[-1].detail or "")  # type: ignore[union-attr]


def test_a_message_is_not_re_driven_again_before_its_copy_had_a_grace_to_be_handled(
    stack: LocalStack,
) -> None:
    overdue(stack, "m-1", 120)
    transport = RecordingTransport()
    redrive(stack.store, transport, grace=GRACE)  # type: ignore[arg-type]
    assert redrive(stack.store, transport, grace=GRACE) == []  # type: ignore[arg-type]
    assert transport.published == ["m-1"]


def test_a_copy_that_keeps_waiting_is_sent_again_after_doubling_waits_not_every_run(
    stack: LocalStack,
) -> None:
    overdue(stack, "m-1", 31)  # just past one grace (30 s)
    transport = RecordingTransport()
    redrive(stack.store, transport, grace=GRACE)  # type: ignore[arg-type]
    first = due_at(stack, "m-1")
    set_due(stack, "m-1", now_utc() - timedelta(seconds=31 + 31))  # its copy waited again
    redrive(stack.store, transport, grace=GRACE)  # type: ignore[arg-type]
    second = due_at(stack, "m-1")
    assert first is not None and second is not None
    assert second - now_utc() > timedelta(seconds=55)  # the wait doubled (62 s), not 30 s
    assert transport.published == ["m-1", "m-1"]


def test_at_most_limit_per_run_most_overdue_first(stack: LocalStack) -> None:
    for index in range(5):
        overdue(stack, f"m-{index}", 100 + index * 10)
    transport = RecordingTransport()
    assert len(redrive(stack.store, transport, grace=GRACE, limit=2)) == 2  # type: ignore[arg-type]
    assert transport.published == ["m-4", "m-3"]
    redrive(stack.store, transport, grace=GRACE, limit=2)  # type: ignore[arg-type]
    assert transport.published == ["m-4", "m-3", "m-2", "m-1"]
    assert timeline(stack, "m-0").count("redriven") == 0


def test_a_message_delivered_meanwhile_is_not_re_driven(stack: LocalStack) -> None:
    overdue(stack, "m-1", 120, status="retrying")
    stack.store.record_events([EventRecord("m-1", "delivered", status="delivered")])
    transport = RecordingTransport()
    assert redrive(stack.store, transport, grace=GRACE) == []  # type: ignore[arg-type]
    assert transport.published == []
    assert "redriven" not in timeline(stack, "m-1")


def test_nothing_overdue_publishes_nothing(stack: LocalStack) -> None:
    accept(stack, "m-1")
    transport = RecordingTransport(fail=True)  # would raise if asked
    assert redrive(stack.store, transport, grace=GRACE) == []  # type: ignore[arg-type]


def test_a_failed_publish_records_nothing_and_the_message_comes_up_again_a_grace_later(
    stack: LocalStack,
) -> None:
    grace = timedelta(milliseconds=300)
    overdue(stack, "m-1", 0.35, status="retrying")
    with pytest.raises(PublishFailed):
        redrive(stack.store, RecordingTransport(fail=True), grace=grace)  # type: ignore[arg-type]
    view = stack.store.get("m-1")
    assert view is not None and view.status == "retrying"
    assert "redriven" not in timeline(stack, "m-1")
    transport = RecordingTransport()
    assert redrive(stack.store, transport, grace=grace) == []  # type: ignore[arg-type]
    time.sleep(0.9)  # the claimed copy's wait (0.35 s), then one grace to be overdue
    assert [r.message_id for r in redrive(stack.store, transport, grace=grace)] == ["m-1"]  # type: ignore[arg-type]
    assert timeline(stack, "m-1").count("redriven") == 1


def test_a_message_that_cannot_be_published_does_not_hold_back_the_others(
    stack: LocalStack,
) -> None:
    overdue(stack, "m-stuck", 600)
    overdue(stack, "m-next", 300)
    with pytest.raises(PublishFailed):
        redrive(stack.store, RecordingTransport(fail=True), grace=GRACE, limit=1)  # type: ignore[arg-type]
    transport = RecordingTransport()
    redrive(stack.store, transport, grace=GRACE, limit=1)  # type: ignore[arg-type]
    assert transport.published == ["m-next"]


def test_a_re_driven_copy_is_handled_once_and_a_copy_already_handled_is_only_acked(
    stack: LocalStack,
) -> None:
    overdue(stack, "m-1", 120, status="retrying")
    transport = RecordingTransport()
    redrive(stack.store, transport, grace=GRACE)  # type: ignore[arg-type]
    (copy,) = transport.batches[0]
    calls: list[str] = []

    def handler(envelope: Envelope) -> dict[str, str]:
        calls.append(envelope.message_id)
        return {"ok": "yes"}

    worker = Worker(
        transport,  # type: ignore[arg-type]
        stack.verifier,
        Ledger(stack.engine),
        BatchTimeline(stack.engine),
        stack.evidence,
        {SYNC: handler},
        "portal-sync",
    )
    redriven = Delivery(copy, 1, f"tthc.{SYNC}", SYNC)
    assert [d.action for d in worker.handle_batch([redriven])] == ["ack"]  # verified, handled
    late_tier_copy = Delivery(copy, 3, f"tthc.{SYNC}", SYNC)  # the stranded copy, freed at last
    assert [d.action for d in worker.handle_batch([late_tier_copy])] == ["ack"]
    assert calls == ["m-1"]
    assert stack.store.get("m-1").status == "delivered"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("grace", "limit"), [(timedelta(0), 10), (timedelta(seconds=-1), 10), (GRACE, 0)]
)
def test_a_grace_or_limit_that_cannot_work_is_refused(
    stack: LocalStack, grace: timedelta, limit: int
) -> None:
    overdue(stack, "m-1", 120)
    transport = RecordingTransport()
    with pytest.raises(ValueError):
        redrive(stack.store, transport, grace=grace, limit=limit)  # type: ignore[arg-type]
    assert transport.published == []


def test_the_job_counts_what_it_re_drove(stack: LocalStack) -> None:
    registry = CollectorRegistry()
    metrics = RedriveMetrics(registry)
    assert registry.get_sample_value("tthc_messages_redriven_total", {"type": SYNC}) == 0
    overdue(stack, "m-1", 120)
    overdue(stack, "m-2", 100)
    transport = RecordingTransport()
    found = redrive_job(stack.store, transport, grace=GRACE, on_redriven=metrics.observe)  # type: ignore[arg-type]
    assert len(found) == 2
    assert registry.get_sample_value("tthc_messages_redriven_total", {"type": SYNC}) == 2
    other = {"type": "city.payment.confirmed"}
    assert registry.get_sample_value("tthc_messages_redriven_total", other) == 0


def test_the_settings_have_defaults_and_refuse_what_is_not_positive() -> None:
    broker = BrokerSettings()
    assert (broker.redrive_interval_seconds, broker.redrive_grace_seconds) == (15, 30)
    for field in ("redrive_interval_seconds", "redrive_grace_seconds"):
        for value in (0, -5):
            with pytest.raises(ValidationError, match=field):
                BrokerSettings(**{field: value})  # type: ignore[arg-type]


def test_the_embedded_queue_runs_no_re_drive(tmp_path: Path) -> None:
    from gateway.bootstrap import build
    from gateway.config import load_settings

    repo = Path(__file__).resolve().parents[3]
    environ = {"TTHC_VAR_DIR": str(tmp_path / "var"), "TTHC_KEYS__DIRECTORY": str(tmp_path / "keys")}
    gateway = build(load_settings(repo / "config", environ=environ))
    try:
        names = [job.name for job in gateway.periodic_jobs()]
    finally:
        gateway.close()
    assert "parked-reconcile" in names and "redrive" not in names
