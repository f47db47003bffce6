"""The transport contract, run on every backend (embedded/SQLite, embedded/PostgreSQL, RabbitMQ).

What a transport must do whatever its engine: confirmed publish, byte-exact round trip with
the envelope's properties and headers, unroutable refused, delayed retry with attempt and
failure headers, parking (now or after the attempts), list/take of parked messages, redelivery
of what was not acknowledged, and no head-of-line blocking by a failing message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from gateway.domain.messages import Envelope, MessageType
from gateway.messaging.port import (
    REASON_EXHAUSTED,
    Delivery,
    Disposition,
    Transport,
    Unroutable,
)

from .conftest import Backend

SYNC = MessageType.PORTAL_DOSSIER_SYNC.value
PROGRESS = MessageType.PORTAL_DOSSIER_PROGRESS.value


def envelope(message_id: str, type_: str = SYNC, body: bytes | None = None) -> Envelope:
    return Envelope(
        message_id=message_id,
        type=type_,
        recipient=type_.split(".", 1)[0],
        correlation_id=f"corr-{message_id}",
        timestamp=datetime(2026, 11, 27, 8, 30, 15, 123456, tzinfo=UTC),
        body=body if body is not None else b'{"MaHoSo": "000.00.00.H26-241120-0001"}',
        jws=f"eyJhbGciOiJFUzI1NiJ9..sig-{message_id}",
        headers={"replay_of": "m-0"} if message_id == "with-extra" else {},
    )


def consume_until(
    transport: Transport,
    types: Sequence[str],
    decide: Callable[[Delivery], Disposition],
    done: Callable[[list[Delivery]], bool],
    timeout: float = 15.0,
    max_batch: int = 50,
) -> list[Delivery]:
    """Run a consumer in a thread until ``done(seen)`` holds; fail on timeout."""
    seen: list[Delivery] = []
    lock = threading.Lock()
    stop = threading.Event()

    def handler(deliveries: Sequence[Delivery]) -> list[Disposition]:
        out = []
        for delivery in deliveries:
            with lock:
                seen.append(delivery)
            out.append(decide(delivery))
        with lock:
            if done(seen):
                stop.set()
        return out

    thread = threading.Thread(
        target=transport.consume_batches,
        args=(types, handler),
        kwargs={"stop": stop, "max_batch": max_batch},
        daemon=True,
    )
    thread.start()
    finished = stop.wait(timeout)
    stop.set()
    thread.join(10)
    assert finished, f"consumer did not finish in {timeout}s; saw {len(seen)} deliveries"
    assert not thread.is_alive(), "consumer did not stop when asked"
    return seen


def test_publish_confirm_round_trip_keeps_bytes_and_properties(backend: Backend) -> None:
    transport = backend.transport()
    sent = [envelope("m-1"), envelope("with-extra", body=b'{"x": "\xc3\xa1"}'), envelope("m-3")]
    transport.publish(sent)
    seen = consume_until(transport, [SYNC], lambda d: Disposition.ack(), lambda s: len(s) >= 3)
    got = {d.envelope.message_id: d for d in seen}
    assert set(got) == {"m-1", "with-extra", "m-3"}
    for original in sent:
        delivery = got[original.message_id]
        assert delivery.envelope == original
        assert delivery.attempt == 1
        assert delivery.queue_type == SYNC
        assert delivery.first_failure_at is None


def test_types_are_routed_to_their_own_queue(backend: Backend) -> None:
    transport = backend.transport()
    transport.publish([envelope("s-1", SYNC), envelope("p-1", PROGRESS), envelope("s-2", SYNC)])
    seen = consume_until(transport, [PROGRESS], lambda d: Disposition.ack(), lambda s: len(s) >= 1)
    assert [d.envelope.message_id for d in seen] == ["p-1"]
    rest = consume_until(transport, [SYNC], lambda d: Disposition.ack(), lambda s: len(s) >= 2)
    assert sorted(d.envelope.message_id for d in rest) == ["s-1", "s-2"]


def test_unroutable_type_is_refused_not_dropped(backend: Backend) -> None:
    transport = backend.transport()
    with pytest.raises(Unroutable, match="no queue"):
        transport.publish([envelope("u-1", "portal.nonexistent.type")])


def test_retry_redelivers_with_attempt_and_failure_headers(backend: Backend) -> None:
    transport = backend.transport()
    transport.publish([envelope("r-1")])
    started = time.monotonic()
    seen = consume_until(
        transport,
        [SYNC],
        lambda d: (
            Disposition.retry("upstream_unavailable", "portal: 503")
            if d.attempt == 1
            else Disposition.ack()
        ),
        lambda s: len(s) >= 2,
    )
    first, second = seen
    assert (first.attempt, second.attempt) == (1, 2)
    assert second.first_failure_at is not None
    assert second.last_error == "portal: 503"
    assert second.envelope == first.envelope
    assert time.monotonic() - started >= 0.2  # the first tier's delay was honoured


def test_attempts_exhausted_parks_with_the_parking_record(backend: Backend) -> None:
    transport = backend.transport()
    transport.publish([envelope("x-1")])
    seen = consume_until(
        transport,
        [SYNC],
        lambda d: Disposition.retry("upstream_timeout", f"timeout on attempt {d.attempt}"),
        lambda s: len(s) >= 3,
    )
    assert [d.attempt for d in seen] == [1, 2, 3]
    parked = wait_parked(transport, 1)
    record = parked[0]
    assert record.envelope.message_id == "x-1"
    assert record.envelope.body == envelope("x-1").body
    assert record.reason == REASON_EXHAUSTED
    assert record.attempts == 3
    assert record.original_type == SYNC
    assert record.original_queue.endswith(SYNC)
    assert record.last_error == "timeout on attempt 3"
    assert record.first_failure_at is not None and record.last_failure_at is not None
    assert record.first_failure_at <= record.last_failure_at


def test_park_now_then_take_parked_removes_exactly_that_copy(backend: Backend) -> None:
    transport = backend.transport()
    transport.publish([envelope("p-1"), envelope("p-2")])
    consume_until(
        transport,
        [SYNC],
        lambda d: Disposition.park("contract_violation", "TrangThaiHoSo 9 -> 2"),
        lambda s: len(s) >= 2,
    )
    parked = wait_parked(transport, 2)
    assert {p.envelope.message_id for p in parked} == {"p-1", "p-2"}
    assert {p.reason for p in parked} == {"contract_violation"}
    assert all(p.attempts == 1 for p in parked)
    # replay order: publish the new copy first, then take the parked one
    taken = transport.take_parked("p-1")
    assert taken is not None and taken.envelope.message_id == "p-1"
    assert transport.take_parked("p-1") is None
    assert transport.take_parked("never-parked") is None
    remaining = transport.list_parked()
    assert [p.envelope.message_id for p in remaining] == ["p-2"]


def test_unacknowledged_message_is_delivered_again(backend: Backend) -> None:
    transport = backend.transport()
    transport.publish([envelope("c-1")])
    calls: list[Delivery] = []

    def decide(delivery: Delivery) -> Disposition:
        calls.append(delivery)
        if len(calls) == 1:
            raise RuntimeError("worker crashed mid-message")
        return Disposition.ack()

    seen = consume_until(transport, [SYNC], decide, lambda s: len(s) >= 2, timeout=20)
    assert [d.envelope.message_id for d in seen] == ["c-1", "c-1"]
    assert seen[1].redelivered
    assert seen[1].attempt == 1  # a redelivery is not a failed attempt


def test_failing_message_does_not_block_those_behind_it(backend: Backend) -> None:
    transport = backend.transport()
    transport.publish([envelope("poison")] + [envelope(f"ok-{i}") for i in range(200)])
    poison = "poison"
    seen = consume_until(
        transport,
        [SYNC],
        lambda d: (
            Disposition.retry("boom", "always fails")
            if d.envelope.message_id == poison
            else Disposition.ack()
        ),
        lambda s: (
            sum(d.envelope.message_id != poison for d in s) >= 200
            and sum(d.envelope.message_id == poison for d in s) >= 3
        ),
    )
    ok = [d.envelope.message_id for d in seen if d.envelope.message_id != poison]
    assert sorted(ok) == sorted(f"ok-{i}" for i in range(200))
    # the others were not held back behind the poison message's retries
    first_retry = next(
        i for i, d in enumerate(seen) if d.envelope.message_id == poison and d.attempt == 2
    )
    assert first_retry > 100
    assert [p.envelope.message_id for p in wait_parked(transport, 1)] == [poison]


def wait_parked(transport: Transport, count: int, timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        parked = transport.list_parked()
        if len(parked) >= count or time.monotonic() > deadline:
            assert len(parked) == count, f"expected {count} parked, found {len(parked)}"
            return parked
        time.sleep(0.05)


def test_consume_one_by_one_acks_each_and_stops_on_request(backend: Backend) -> None:
    transport = backend.transport()
    transport.publish([envelope(f"o-{i}") for i in range(5)])
    seen: list[str] = []
    stop = threading.Event()

    def handler(delivery: Delivery) -> Disposition:
        seen.append(delivery.envelope.message_id)
        if len(seen) == 5:
            stop.set()
        return Disposition.ack()

    thread = threading.Thread(
        target=transport.consume, args=([SYNC], handler), kwargs={"stop": stop}
    )
    thread.start()
    thread.join(20)
    assert not thread.is_alive()
    assert sorted(seen) == [f"o-{i}" for i in range(5)]
    # nothing left: a second consumer sees nothing within a short wait
    again: list[str] = []
    stop2 = threading.Event()
    thread = threading.Thread(
        target=transport.consume,
        args=([SYNC], lambda d: again.append(d.envelope.message_id) or Disposition.ack()),
        kwargs={"stop": stop2},
    )
    thread.start()
    time.sleep(0.5)
    stop2.set()
    thread.join(10)
    assert again == []


def test_consuming_a_type_without_queue_is_refused(backend: Backend) -> None:
    transport = backend.transport()
    with pytest.raises(ValueError, match="no queue"):
        transport.consume(["portal.unknown"], lambda d: Disposition.ack(), stop=threading.Event())


def test_ping_answers_without_touching_parked_messages(backend: Backend) -> None:
    transport = backend.transport()
    transport.ping()
    transport.publish([envelope("parked-1")])
    seen = consume_until(
        transport, [SYNC], lambda d: Disposition.park("test", "parked"), lambda s: len(s) >= 1
    )
    assert [d.envelope.message_id for d in seen] == ["parked-1"]
    for _ in range(3):
        transport.ping()
    parked = transport.list_parked()
    assert [p.envelope.message_id for p in parked] == ["parked-1"]


def test_defer_without_an_attempt_spent_is_never_parked_and_keeps_its_count(
    backend: Backend,
) -> None:
    transport = backend.transport()  # max_attempts 3
    transport.publish([envelope("d-1")])
    deliveries = iter(range(100))

    def decide(_delivery: Delivery) -> Disposition:
        if next(deliveries) < 5:
            return Disposition.defer("ledger_busy", "held by w-1", delay=0.2)
        return Disposition.ack()

    seen = consume_until(transport, [SYNC], decide, lambda s: len(s) >= 6, timeout=30)
    assert [d.attempt for d in seen] == [1] * 6  # five deferrals spent nothing
    assert transport.list_parked() == []


def test_defer_with_an_attempt_spent_counts_it_but_never_parks(backend: Backend) -> None:
    transport = backend.transport()  # max_attempts 3
    transport.publish([envelope("d-2")])
    seen = consume_until(
        transport,
        [SYNC],
        lambda d: (
            Disposition.defer("upstream_unavailable", "portal: 500", delay=0.2, spent=True)
            if d.attempt < 5
            else Disposition.ack()
        ),
        lambda s: len(s) >= 5,
        timeout=30,
    )
    assert [d.attempt for d in seen] == [1, 2, 3, 4, 5]  # past max_attempts, not parked
    assert seen[-1].last_error == "portal: 500" and seen[-1].first_failure_at is not None
    assert transport.list_parked() == []


def _publish_with_headers(backend: Backend, transport: Transport, headers: dict[str, str]) -> None:
    """Put a message with these transport headers on the queue (what a broken peer could do)."""
    from gateway.messaging import codec

    env = envelope("p-1")
    raw = {**codec.envelope_headers(env), **headers}
    if backend.broker:
        transport._publish_raw([(backend.prefix, SYNC, env, raw)])  # type: ignore[attr-defined]
        return
    from gateway.messaging.embedded import queue_messages

    now = datetime.now(UTC)
    with backend.stack.engine.begin() as connection:
        connection.execute(
            queue_messages.insert().values(
                queue=f"{backend.prefix}.{SYNC}",
                message_id=env.message_id,
                type=SYNC,
                correlation_id=env.correlation_id,
                body=env.body,
                headers=raw,
                attempt=1,
                enqueued_at=now,
                visible_at=now,
                lease_owner=None,
            )
        )


@pytest.mark.parametrize(
    "bad", [{"x-attempt": "two"}, {"x-timestamp": "yesterday"}, {"x-first-failure-at": "?"}]
)
def test_undecodable_headers_are_delivered_as_defects_and_the_consumer_goes_on(
    backend: Backend, bad: dict[str, str]
) -> None:
    transport = backend.transport()
    _publish_with_headers(backend, transport, bad)
    transport.publish([envelope("p-2")])
    seen = consume_until(
        transport,
        [SYNC],
        lambda d: (
            Disposition.park("bad_headers", d.defect or "") if d.defect else Disposition.ack()
        ),
        lambda s: len(s) >= 2,
    )
    by_id = {d.envelope.message_id: d for d in seen}
    assert by_id["p-1"].defect is not None and next(iter(bad)) in by_id["p-1"].defect
    assert by_id["p-2"].defect is None
    parked = wait_parked(transport, 1)
    assert (parked[0].envelope.message_id, parked[0].reason) == ("p-1", "bad_headers")
    assert parked[0].envelope.body == envelope("p-1").body
