"""The worker records when a message it sends to a delay tier is due back (``messages.due_at``).

On a real SQLite store and real keys; no broker: the batch handler is called directly. The
tier a disposition goes to is the RabbitMQ transport's (:meth:`RetryPolicy.tier_for`); the
due time must be that tier's delay, never the delay the worker asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from adapters.http import CircuitOpen
from gateway.domain.errors import ContractViolation, UpstreamTimeout
from gateway.domain.messages import Envelope
from gateway.messaging.codec import now_utc
from gateway.messaging.port import Delivery, Disposition, RetryPolicy
from gateway.messaging.rabbitmq import RabbitSettings, RabbitTransport
from gateway.messaging.worker import Worker
from gateway.store.batch_timeline import BatchTimeline
from gateway.store.ledger import Ledger
from gateway.store.messages import Acceptance, MessageStore
from gateway.store.schema import messages
from gateway.testing import LocalStack, local_stack

SYNC = "portal.dossier.sync"
#: tiers of 5 s, 30 s and 300 s: a delay between two tiers shows which one was used
POLICY = RetryPolicy(delays=(5.0, 30.0, 300.0), max_attempts=3)


class FakeTransport:
    """Only what the worker reads of a transport: its retry policy."""

    retry_policy = POLICY


class Handler:
    def __init__(self, errors: dict[str, Exception] | None = None) -> None:
        self.errors = errors or {}

    def __call__(self, envelope: Envelope) -> dict[str, str]:
        error = self.errors.get(envelope.message_id)
        if error is not None:
            raise error
        return {"ok": "yes"}


@pytest.fixture
def stack(tmp_path: Path) -> LocalStack:
    return local_stack(tmp_path)


def worker_for(stack: LocalStack, handler: Handler) -> Worker:
    return Worker(
        FakeTransport(),  # type: ignore[arg-type]
        stack.verifier,
        Ledger(stack.engine),
        BatchTimeline(stack.engine),
        stack.evidence,
        {SYNC: handler},
        "portal-sync",
        lease=timedelta(seconds=30),
    )


def delivery(stack: LocalStack, message_id: str, attempt: int = 1, *, store: bool = True) -> Delivery:
    envelope = stack.signer.sign(
        message_id=message_id, type=SYNC, recipient="portal", body=b'{"a": 1}', correlation_id="c"
    )
    if store:
        stack.store.accept_many([Acceptance(envelope, None, "portal")])
    return Delivery(envelope, attempt, f"tthc.{SYNC}", SYNC)


def due_at(stack: LocalStack, message_id: str) -> datetime | None:
    with stack.engine.connect() as connection:
        value: datetime | None = connection.execute(
            select(messages.c.due_at).where(messages.c.id == message_id)
        ).scalar_one()
    return value


def assert_due_in(stack: LocalStack, message_id: str, seconds: float, before: datetime) -> None:
    due = due_at(stack, message_id)
    assert due is not None, f"{message_id}: no due_at"
    assert before + timedelta(seconds=seconds) <= due <= now_utc() + timedelta(seconds=seconds)


@pytest.fixture
def due_statements(stack: LocalStack) -> Iterator[list[str]]:
    """Every statement that writes ``due_at`` (an executemany counts once)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE MESSAGES") and "due_at" in statement:
            seen.append(statement)

    event.listen(stack.engine, "before_cursor_execute", before)
    yield seen
    event.remove(stack.engine, "before_cursor_execute", before)


# -- the one mapping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("disposition", "attempt", "tier"),
    [
        (Disposition.defer("circuit_open", delay=10.0), 1, 0),  # between 5 s and 30 s: 5 s
        (Disposition.defer("circuit_open", delay=3.0), 1, 0),  # below the shortest: the shortest
        (Disposition.defer("x", delay=4000.0, spent=True), 2, 2),  # above the longest: the longest
        (Disposition.retry("boom"), 1, 0),
        (Disposition.retry("boom"), 2, 1),
        (Disposition.retry("boom"), 3, None),  # max_attempts reached: parked, no tier
        (Disposition.park("contract_violation"), 1, None),
        (Disposition.ack(), 1, None),
    ],
)
def test_the_transport_publishes_to_the_tier_whose_delay_the_worker_records(
    disposition: Disposition, attempt: int, tier: int | None
) -> None:
    class Recording(RabbitTransport):
        def __init__(self) -> None:
            super().__init__(RabbitSettings(url="amqp://guest:guest@127.0.0.1:5672/%2F", retry=POLICY))
            self.exchanges: list[str] = []

        def _publish_raw(self, messages: Any) -> None:  # no broker: what would be published
            self.exchanges.extend(exchange for exchange, *_ in messages)

    assert POLICY.tier_for(disposition, attempt) == tier
    if disposition.action == "ack":
        return
    transport = Recording()
    envelope = Envelope("m-1", SYNC, "portal", "c", now_utc(), b"{}", "h..s")
    transport._republish(Delivery(envelope, attempt, f"tthc.{SYNC}", SYNC), disposition)
    names = transport.settings.tier_names()
    expected = transport.settings.parked if tier is None else names[tier]
    assert transport.exchanges == [expected]
    delay = POLICY.redelivery_delay(disposition, attempt)
    assert delay == (None if tier is None else POLICY.delays[tier])


# -- what the worker writes -------------------------------------------------------------------


def test_a_retry_is_due_after_its_attempts_tier(stack: LocalStack) -> None:
    before = now_utc()
    worker = worker_for(stack, Handler({"m-1": RuntimeError("bug"), "m-2": RuntimeError("bug")}))
    dispositions = worker.handle_batch([delivery(stack, "m-1", 1), delivery(stack, "m-2", 2)])
    assert [d.action for d in dispositions] == ["retry", "retry"]
    assert_due_in(stack, "m-1", 5.0, before)
    assert_due_in(stack, "m-2", 30.0, before)
    assert stack.store.get("m-1").status == "retrying"  # type: ignore[union-attr]


def test_a_partner_down_defer_is_due_after_the_tier_the_transport_really_uses(
    stack: LocalStack,
) -> None:
    before = now_utc()
    worker = worker_for(stack, Handler({"m-1": UpstreamTimeout("portal", "slow")}))
    (disposition,) = worker.handle_batch([delivery(stack, "m-1", 2)])
    assert (disposition.action, disposition.spent) == ("defer", True)
    assert_due_in(stack, "m-1", 30.0, before)


def test_a_circuit_open_defer_sets_due_at_from_the_tier_and_writes_no_event(
    stack: LocalStack,
) -> None:
    before = now_utc()
    open_circuit = CircuitOpen("portal", "circuit open", retry_after=20.0)  # no 20 s tier
    worker = worker_for(stack, Handler({"m-1": open_circuit}))
    item = delivery(stack, "m-1")
    timeline_before = stack.store.get("m-1").timeline  # type: ignore[union-attr]
    (disposition,) = worker.handle_batch([item])
    assert (disposition.action, disposition.delay) == ("defer", 20.0)
    assert_due_in(stack, "m-1", 5.0, before)  # the 5 s tier: at or below 20 s
    view = stack.store.get("m-1")
    assert view is not None
    assert view.timeline == timeline_before  # no event
    assert view.status == "accepted"  # nor a status


def test_a_ledger_busy_defer_sets_due_at_and_writes_no_event(stack: LocalStack) -> None:
    before = now_utc()
    item = delivery(stack, "m-1")
    Ledger(stack.engine).claim("portal-sync", "m-1", timedelta(minutes=5))  # another holder
    timeline_before = stack.store.get("m-1").timeline  # type: ignore[union-attr]
    (disposition,) = worker_for(stack, Handler()).handle_batch([item])
    assert (disposition.action, disposition.reason) == ("defer", "ledger_busy")
    assert_due_in(stack, "m-1", 5.0, before)
    assert stack.store.get("m-1").timeline == timeline_before  # type: ignore[union-attr]


def test_ack_and_park_set_no_due_at(stack: LocalStack) -> None:
    errors: dict[str, Exception] = {
        "m-park": ContractViolation("field X"),
        "m-exhausted": RuntimeError("bug"),
    }
    worker = worker_for(stack, Handler(errors))
    batch = [delivery(stack, "m-ok"), delivery(stack, "m-park"), delivery(stack, "m-exhausted", 3)]
    assert [d.action for d in worker.handle_batch(batch)] == ["ack", "park", "park"]
    assert [due_at(stack, mid) for mid in ("m-ok", "m-park", "m-exhausted")] == [None] * 3


def test_a_later_disposition_replaces_the_due_time(stack: LocalStack) -> None:
    worker = worker_for(stack, Handler({"m-1": RuntimeError("bug")}))
    worker.handle_batch([delivery(stack, "m-1", 1)])
    first = due_at(stack, "m-1")
    worker.handle_batch([delivery(stack, "m-1", 2, store=False)])
    second = due_at(stack, "m-1")
    assert first is not None and second is not None
    assert second - first >= timedelta(seconds=25)  # the 30 s tier now, not the 5 s one


def test_one_due_statement_per_batch_and_none_without_a_deferral(
    stack: LocalStack, due_statements: list[str]
) -> None:
    ok = worker_for(stack, Handler({"m-park": ContractViolation("field X")}))
    ok.handle_batch([delivery(stack, f"m-{i}") for i in range(5)] + [delivery(stack, "m-park")])
    assert due_statements == []
    failing = worker_for(stack, Handler({f"d-{i}": RuntimeError("bug") for i in range(5)}))
    failing.handle_batch([delivery(stack, f"d-{i}") for i in range(5)])
    assert len(due_statements) == 1


def test_a_message_unknown_to_the_store_does_not_cost_the_others_their_due_time(
    stack: LocalStack,
) -> None:
    before = now_utc()
    errors: dict[str, Exception] = {"m-known": RuntimeError("bug"), "m-unknown": RuntimeError("bug")}
    worker = worker_for(stack, Handler(errors))
    batch = [delivery(stack, "m-known"), delivery(stack, "m-unknown", store=False)]
    assert [d.action for d in worker.handle_batch(batch)] == ["retry", "retry"]
    assert_due_in(stack, "m-known", 5.0, before)
    assert "retrying" in [e.event for e in stack.store.get("m-known").timeline]  # type: ignore[union-attr]


def test_the_plain_message_store_writes_due_times_too(stack: LocalStack) -> None:
    delivery(stack, "m-1")
    moment = now_utc() + timedelta(seconds=42)
    MessageStore(stack.engine).record_events([], due={"m-1": moment})
    assert due_at(stack, "m-1") == moment
    assert [e.event for e in stack.store.get("m-1").timeline] == ["accepted"]  # type: ignore[union-attr]
