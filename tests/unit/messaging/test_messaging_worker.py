"""The worker's decisions, one delivery at a time, on a real SQLite store and real keys.

No broker: deliveries are built by hand and the worker's batch handler is called directly;
what it returns is what a transport would do (ack, retry tier, park).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.domain.errors import (
    ContractViolation,
    SignatureInvalid,
    UpstreamMalformed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.domain.messages import Envelope
from gateway.messaging.port import Delivery, RetryPolicy
from gateway.messaging.worker import Worker
from gateway.store.batch_timeline import BatchTimeline
from gateway.store.ledger import Ledger
from gateway.store.messages import Acceptance
from gateway.store.schema import evidence_records
from gateway.testing import LocalStack, local_stack

SYNC = "portal.dossier.sync"


class FakeTransport:
    """Only what the worker reads of a transport: its retry policy."""

    retry_policy = RetryPolicy(delays=(0.2,), max_attempts=3)


@pytest.fixture
def stack(tmp_path: Path) -> LocalStack:
    return local_stack(tmp_path)


class Handler:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.error = error

    def __call__(self, envelope: Envelope) -> dict[str, str]:
        self.calls[envelope.message_id] += 1
        if self.error is not None:
            raise self.error
        return {"MaHoSo": "000.00.00.H26-241120-0001"}


def worker_for(stack: LocalStack, handler: Handler, **options: object) -> Worker:
    return Worker(
        FakeTransport(),  # type: ignore[arg-type]
        stack.verifier,
        Ledger(stack.engine),
        BatchTimeline(stack.engine),
        stack.evidence,
        {SYNC: handler},
        "portal-sync",
        lease=timedelta(seconds=30),
        **options,  # type: ignore[arg-type]
    )


def delivered(stack: LocalStack, message_id: str, attempt: int = 1, store: bool = True) -> Delivery:
    envelope = stack.signer.sign(
        message_id=message_id,
        type=SYNC,
        recipient="portal",
        body=b'{"MaHoSo": "x"}',
        correlation_id="c",
    )
    if store:
        stack.store.accept_many([Acceptance(envelope, None, "portal")])
    return Delivery(envelope, attempt, f"tthc.{SYNC}", SYNC)


def events(stack: LocalStack, message_id: str) -> list[str]:
    view = stack.store.get(message_id)
    assert view is not None
    return [e.event for e in view.timeline]


def evidence_count(stack: LocalStack) -> int:
    with stack.engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(evidence_records)).scalar_one()
        )


@pytest.mark.parametrize("completion", ["group", "each", "batch"])
def test_success_acks_completes_the_ledger_and_writes_timeline_and_evidence(
    stack: LocalStack, completion: str
) -> None:
    handler = Handler()
    worker = worker_for(stack, handler, completion=completion)
    deliveries = [delivered(stack, f"m-{i}") for i in range(3)]
    assert [d.action for d in worker.handle_batch(deliveries)] == ["ack"] * 3
    assert Ledger(stack.engine).outcome("portal-sync", "m-1") == {
        "MaHoSo": "000.00.00.H26-241120-0001"
    }
    assert events(stack, "m-1")[-2:] == ["attempt_started", "delivered"]
    assert stack.store.get("m-1").status == "delivered"  # type: ignore[union-attr]
    assert evidence_count(stack) == 3


@pytest.mark.parametrize("completion", ["group", "each", "batch"])
def test_handlers_run_side_by_side_and_every_message_is_settled_as_alone(
    stack: LocalStack, completion: str
) -> None:
    """concurrency 4: four deliveries of different dossiers meet inside their handlers."""
    inside = threading.Barrier(4, timeout=5)

    class Meeting(Handler):
        def __call__(self, envelope: Envelope) -> dict[str, str]:
            inside.wait()  # BrokenBarrierError (a failed attempt) unless all four run at once
            return super().__call__(envelope)

    handler = Meeting()
    worker = worker_for(stack, handler, completion=completion, concurrency=4)
    deliveries = [delivered(stack, f"m-{i}") for i in range(4)]
    assert [d.action for d in worker.handle_batch(deliveries)] == ["ack"] * 4
    assert all(stack.store.get(f"m-{i}").status == "delivered" for i in range(4))  # type: ignore[union-attr]
    assert all(Ledger(stack.engine).outcome("portal-sync", f"m-{i}") for i in range(4))
    assert evidence_count(stack) == 4


def test_a_duplicate_is_acked_without_calling_the_handler(stack: LocalStack) -> None:
    handler = Handler()
    worker = worker_for(stack, handler)
    delivery = delivered(stack, "m-1")
    worker.handle_batch([delivery])
    assert worker.handle_batch([dataclasses.replace(delivery, redelivered=True)])[0].action == "ack"
    assert handler.calls["m-1"] == 1


def test_two_copies_in_one_batch_are_handled_once(stack: LocalStack) -> None:
    handler = Handler()
    delivery = delivered(stack, "m-1")
    assert [d.action for d in worker_for(stack, handler).handle_batch([delivery, delivery])] == [
        "ack",
        "ack",
    ]
    assert handler.calls["m-1"] == 1


def test_a_message_another_worker_holds_is_deferred_without_spending_an_attempt(
    stack: LocalStack,
) -> None:
    Ledger(stack.engine).claim("portal-sync", "m-1", timedelta(seconds=60))
    handler = Handler()
    disposition = worker_for(stack, handler).handle_batch([delivered(stack, "m-1", attempt=3)])[0]
    assert (disposition.action, disposition.reason) == ("defer", "ledger_busy")
    assert (disposition.spent, disposition.delay) == (False, 0.2)
    assert handler.calls["m-1"] == 0
    assert "parked" not in events(stack, "m-1")  # contention is never a failure


def test_a_partner_down_defers_spending_the_attempt_and_releases_the_claim(
    stack: LocalStack,
) -> None:
    handler = Handler(UpstreamTimeout("portal", "no answer in 10 s"))
    disposition = worker_for(stack, handler).handle_batch([delivered(stack, "m-1")])[0]
    assert (disposition.action, disposition.reason) == ("defer", "upstream_timeout")
    assert disposition.spent and disposition.delay == 0.2
    assert "no answer in 10 s" in disposition.error
    claim = Ledger(stack.engine).claim("portal-sync", "m-1", timedelta(seconds=5))
    assert claim.state == "claimed"  # released: the next attempt can claim it
    assert events(stack, "m-1")[-3:] == ["attempt_started", "attempt_failed", "retrying"]
    assert stack.store.get("m-1").status == "retrying"  # type: ignore[union-attr]


def test_a_partner_down_is_never_parked_by_attempts_only_by_the_time_budget(
    stack: LocalStack,
) -> None:
    from datetime import UTC, datetime

    handler = Handler(UpstreamUnavailable("portal", "HTTP 500 from the partner"))
    worker = worker_for(stack, handler)
    recent = dataclasses.replace(
        delivered(stack, "m-1", attempt=50), first_failure_at=datetime.now(UTC)
    )
    assert worker.handle_batch([recent])[0].action == "defer"  # attempt 50 > max_attempts 3
    old = dataclasses.replace(
        delivered(stack, "m-2", attempt=2),
        first_failure_at=datetime.now(UTC)
        - timedelta(seconds=FakeTransport.retry_policy.budget_seconds + 1),
    )
    parked = worker.handle_batch([old])[0]
    assert (parked.action, parked.reason) == ("park", "retry_budget_exhausted")
    assert stack.store.get("m-2").status == "parked"  # type: ignore[union-attr]


def test_an_open_circuit_defers_until_the_trial_without_spending_an_attempt(
    stack: LocalStack,
) -> None:
    from adapters._breaker import CircuitBreaker

    breaker = CircuitBreaker("portal", failure_threshold=1, reset_after=30)
    breaker.before_call()
    breaker.record_failure()
    try:
        breaker.before_call()
    except UpstreamUnavailable as refused:
        handler = Handler(refused)
    else:  # pragma: no cover - the breaker must refuse
        raise AssertionError("the circuit did not open")
    disposition = worker_for(stack, handler).handle_batch([delivered(stack, "m-1", attempt=3)])[0]
    assert (disposition.action, disposition.spent) == ("defer", False)
    assert 25 <= disposition.delay <= 30  # until the half-open trial
    timeline = events(stack, "m-1")  # no attempt, no failure on the timeline
    assert "attempt_started" not in timeline and "attempt_failed" not in timeline


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ContractViolation("TrangThaiHoSo 9 -> 2 is not allowed"), "contract_violation"),
        (SignatureInvalid("bad_signature", "portal answer signature"), "signature_invalid"),
        (UpstreamRejected("city", "refused with HTTP 409"), "upstream_rejected"),
        (UpstreamMalformed("portal", "answer is not JSON"), "upstream_malformed"),
    ],
)
def test_permanent_failure_parks_at_once(stack: LocalStack, error: Exception, reason: str) -> None:
    handler = Handler(error)
    disposition = worker_for(stack, handler).handle_batch([delivered(stack, "m-1")])[0]
    assert (disposition.action, disposition.reason) == ("park", reason)
    assert stack.store.get("m-1").status == "parked"  # type: ignore[union-attr]
    assert handler.calls["m-1"] == 1


def test_other_failures_retry_until_the_last_attempt_then_park(stack: LocalStack) -> None:
    handler = Handler(RuntimeError("a bug"))
    worker = worker_for(stack, handler)
    first = worker.handle_batch([delivered(stack, "m-1", attempt=1)])[0]
    assert first.action == "retry"
    last = worker.handle_batch([dataclasses.replace(delivered(stack, "m-2"), attempt=3)])[0]
    assert (last.action, last.reason) == ("park", "attempts_exhausted")
    view = stack.store.get("m-2")
    assert view is not None and view.status == "parked"  # the store says what the queue does
    assert "attempts_exhausted" in (view.timeline[-1].detail or "")


def test_a_delivery_with_undecodable_headers_is_parked_and_the_batch_goes_on(
    stack: LocalStack,
) -> None:
    handler = Handler()
    poison = dataclasses.replace(
        delivered(stack, "m-1"), defect="header 'x-attempt' is not an integer: 'two'"
    )
    dispositions = worker_for(stack, handler).handle_batch([poison, delivered(stack, "m-2")])
    assert [(d.action, d.reason) for d in dispositions] == [("park", "bad_headers"), ("ack", "")]
    assert handler.calls == Counter({"m-2": 1})
    view = stack.store.get("m-1")
    assert view is not None and view.status == "parked"
    assert "x-attempt" in (view.last_error or "")


def test_a_forged_copy_in_the_same_batch_never_gets_the_real_one_acked_unhandled(
    stack: LocalStack,
) -> None:
    handler = Handler()
    real = delivered(stack, "m-1")
    forged = dataclasses.replace(
        real, envelope=dataclasses.replace(real.envelope, body=b'{"forged": true}')
    )
    dispositions = worker_for(stack, handler).handle_batch([forged, real])
    assert [(d.action, d.reason) for d in dispositions] == [("park", "bad_signature"), ("ack", "")]
    assert handler.calls["m-1"] == 1  # the real one was handled


def test_a_batch_that_fails_midway_releases_its_claims(stack: LocalStack) -> None:
    class BrokenTimeline(BatchTimeline):
        def record_events(self, events: object, **_: object) -> None:
            raise RuntimeError("database went away")

    worker = Worker(
        FakeTransport(),  # type: ignore[arg-type]
        stack.verifier,
        Ledger(stack.engine),
        BrokenTimeline(stack.engine),
        stack.evidence,
        {SYNC: Handler(UpstreamTimeout("portal", "slow"))},
        "portal-sync",
    )
    with pytest.raises(RuntimeError):
        worker.handle_batch([delivered(stack, "m-1")])
    claim = Ledger(stack.engine).claim("portal-sync", "m-1", timedelta(seconds=5))
    assert claim.state == "claimed"  # nothing left holding it


def test_unexpected_exception_keeps_only_its_class_name(stack: LocalStack) -> None:
    handler = Handler(KeyError("SoDinhDanh 001203001234"))  # personal data in the message
    disposition = worker_for(stack, handler).handle_batch([delivered(stack, "m-1")])[0]
    assert (disposition.action, disposition.reason, disposition.error) == (
        "retry",
        "unexpected_error",
        "KeyError",
    )
    assert "001203001234" not in (stack.store.get("m-1").last_error or "")  # type: ignore[union-attr]


def test_refused_signature_parks_with_its_reason_and_never_calls_the_handler(
    stack: LocalStack,
) -> None:
    handler = Handler()
    delivery = delivered(stack, "m-1")
    tampered = dataclasses.replace(
        delivery, envelope=dataclasses.replace(delivery.envelope, body=b"{}")
    )
    wrong_queue = dataclasses.replace(delivered(stack, "m-2"), queue_type="portal.dossier.progress")
    dispositions = worker_for(stack, handler).handle_batch([tampered, wrong_queue])
    assert [(d.action, d.reason) for d in dispositions] == [
        ("park", "bad_signature"),
        ("park", "type_mismatch"),
    ]
    assert handler.calls == Counter()
    assert events(stack, "m-1")[-1] == "refused"  # noted on the real message's timeline...
    assert stack.store.get("m-1").status == "accepted"  # type: ignore[union-attr]  # ...only


def test_an_expired_but_genuine_envelope_parks_the_stored_message(stack: LocalStack) -> None:
    from gateway.envelope import EnvelopeVerifier

    old = EnvelopeVerifier(stack.keystore, max_age=timedelta(seconds=-120))  # all too old
    worker = worker_for(stack, Handler())
    worker.verifier = old
    disposition = worker.handle_batch([delivered(stack, "m-1")])[0]
    assert (disposition.action, disposition.reason) == ("park", "iat_expired")
    assert stack.store.get("m-1").status == "parked"  # type: ignore[union-attr]


def test_a_type_without_handler_is_parked(stack: LocalStack) -> None:
    worker = worker_for(stack, Handler())
    envelope = stack.signer.sign(
        message_id="m-9",
        type="city.payment.confirmed",
        recipient="city",
        body=b"{}",
        correlation_id="c",
    )
    delivery = Delivery(envelope, 1, "tthc.city.payment.confirmed", "city.payment.confirmed")
    assert worker.handle_batch([delivery])[0].reason == "no_handler"


def test_a_message_unknown_to_the_store_is_still_handled(stack: LocalStack) -> None:
    handler = Handler()
    disposition = worker_for(stack, handler).handle_batch(
        [delivered(stack, "m-ghost", store=False)]
    )[0]
    assert disposition.action == "ack"  # its timeline cannot be written; delivery goes on
    assert handler.calls["m-ghost"] == 1


def test_group_commit_failure_keeps_the_batch_unacknowledged(stack: LocalStack) -> None:
    class BrokenLedger(Ledger):
        def complete_many(self, *args: object, **kwargs: object) -> list[str]:
            raise RuntimeError("database went away")

    worker = Worker(
        FakeTransport(),  # type: ignore[arg-type]
        stack.verifier,
        BrokenLedger(stack.engine),
        BatchTimeline(stack.engine),
        stack.evidence,
        {SYNC: Handler()},
        "portal-sync",
    )
    with pytest.raises(RuntimeError, match="flush failed"):
        worker.handle_batch([delivered(stack, "m-1")])
    assert evidence_count(stack) == 0  # nothing recorded as delivered
    ok = worker_for(stack, Handler())
    assert ok.handle_batch([delivered(stack, "m-2")])[0].action == "ack"  # flusher per worker


def test_completion_flusher_reports_only_its_own_failed_range() -> None:
    from gateway.messaging.completion import CompletionFlusher

    written: list[list[str]] = []

    def write(items: list[tuple[str, dict[str, object], str | None]]) -> None:
        if any(mid == "bad" for mid, _, _ in items):
            raise RuntimeError("boom")
        written.append([mid for mid, _, _ in items])

    flusher = CompletionFlusher(write)  # type: ignore[arg-type]
    first = flusher.submit(("a", {}, None))
    flusher.wait(first, first)
    bad = flusher.submit(("bad", {}, None))
    with pytest.raises(RuntimeError):
        flusher.wait(bad, bad)
    later = flusher.submit(("c", {}, None))
    flusher.wait(later, later)
    assert written == [["a"], ["c"]]


def test_a_redelivery_already_done_in_the_ledger_records_what_the_crash_lost(
    stack: LocalStack,
) -> None:
    """Killed between the ledger completion and the timeline: the store says published."""
    delivery = delivered(stack, "m-1")
    ledger = Ledger(stack.engine)
    claim = ledger.claim("portal-sync", "m-1", timedelta(seconds=60))
    ledger.complete("portal-sync", "m-1", {"MaHoSo": "x"}, token=claim.token)  # then: killed
    handler = Handler()
    worker = Worker(
        FakeTransport(),  # type: ignore[arg-type]
        stack.verifier,
        Ledger(stack.engine),
        stack.store,
        stack.evidence,
        {SYNC: handler},
        "portal-sync",
    )
    assert worker.handle_batch([delivery])[0].action == "ack"
    assert handler.calls["m-1"] == 0  # not handled twice
    assert stack.store.get("m-1").status == "delivered"  # type: ignore[union-attr]
    assert evidence_count(stack) == 1
    worker.handle_batch([delivery])  # once recorded, a further duplicate adds nothing
    assert events(stack, "m-1").count("delivered") == 1 and evidence_count(stack) == 1
