"""The worker end to end on every backend: refusals, poison messages, outbox crash recovery.

Must show: each kind of bad signature ends parked with its reason and the handler is never
called; a poison message is parked after the configured attempts while 1,000 others behind it
flow; a crash between commit and publish (and between publish and mark-published) loses
nothing and processes nothing twice.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.domain.errors import ContractViolation, UpstreamUnavailable
from gateway.envelope import EnvelopeSigner
from gateway.keys import KeyStore
from gateway.messaging.port import REASON_EXHAUSTED, RetryPolicy
from gateway.ops.reconcile import reconcile_job
from gateway.store.ledger import Ledger
from tests.conftest import outbox_rows

from .conftest import Backend
from .helpers import (
    CONSUMER,
    SYNC,
    CountingHandler,
    accept,
    make_worker,
    parked_reasons,
    relay_for,
    run_until,
    sign,
)


def test_every_bad_signature_is_parked_with_its_reason_and_never_handled(
    backend: Backend, tmp_path: Path
) -> None:
    transport = backend.transport()
    good = sign(backend, "m-good")
    tampered = dataclasses.replace(sign(backend, "m-tampered"), body=b'{"MaHoSo": "changed"}')
    # an attacker's key, made "in 2020" so its key id is unknown to the gateway
    past = datetime(2020, 1, 1, tzinfo=UTC)
    foreign = KeyStore.ensure(tmp_path / "foreign", "ES256", timedelta(days=7), clock=lambda: past)
    foreign_signer = EnvelopeSigner(foreign)
    unknown_kid = foreign_signer.sign(
        message_id="m-unknown-kid",
        type=SYNC,
        recipient="portal",
        body=b'{"MaHoSo": "x"}',
        correlation_id="c",
    )
    # the gateway's header (its kid) with a signature made by the attacker's key
    genuine = sign(backend, "m-forged")
    attacker = foreign_signer.sign(
        message_id="m-forged", type=SYNC, recipient="portal", body=genuine.body, correlation_id="c"
    )
    forged = dataclasses.replace(
        genuine, jws=genuine.jws.split("..")[0] + ".." + attacker.jws.split("..")[1]
    )
    wrong_recipient = sign(backend, "m-wrong-recipient", recipient="city")
    old_signer = EnvelopeSigner(
        backend.stack.keystore, clock=lambda: datetime.now(UTC) - timedelta(days=3)
    )
    expired = old_signer.sign(
        message_id="m-expired",
        type=SYNC,
        recipient="portal",
        body=b'{"MaHoSo": "y"}',
        correlation_id="c",
    )
    bad = [tampered, unknown_kid, forged, wrong_recipient, expired]
    accept(backend, [good, *bad])
    relay_for(backend, transport).drain()
    handler = CountingHandler()
    worker = make_worker(backend, transport, handler)
    run_until(
        worker.run, lambda: handler.calls["m-good"] == 1 and len(parked_reasons(transport)) == 5
    )
    assert parked_reasons(transport) == {
        "m-tampered": "bad_signature",
        "m-unknown-kid": "unknown_kid",
        "m-forged": "bad_signature",
        "m-wrong-recipient": "recipient_mismatch",
        "m-expired": "iat_expired",
    }
    assert dict(handler.calls) == {"m-good": 1}  # never called for a refused message
    store = backend.stack.store
    expired_view = store.get("m-expired")  # provably ours, only too old: parked at once
    assert expired_view is not None and expired_view.status == "parked"
    for envelope in bad[:-1]:  # a refused copy changes nothing but a note on the timeline...
        view = store.get(envelope.message_id)
        assert view is not None and view.status == "published"
        assert view.timeline[-1].event == "refused"
    # ...until reconcile finds that the parked copy is the store's own message
    report = reconcile_job(store, transport, backend.stack.verifier)
    assert sorted(report.fixed) == sorted(e.message_id for e in bad[:-1])
    for envelope in bad:
        view = store.get(envelope.message_id)
        assert view is not None and view.status == "parked"
    good_view = store.get("m-good")
    assert good_view is not None and good_view.status == "delivered"


def test_poison_message_is_parked_after_its_attempts_while_1000_others_flow(
    backend: Backend,
) -> None:
    transport = backend.transport()
    poison = sign(backend, "m-poison")
    others = [sign(backend, f"m-{i:04d}") for i in range(1000)]
    accept(backend, [poison, *others])
    relay_for(backend, transport).drain()
    handler = CountingHandler(
        lambda e: RuntimeError("a bug the message triggers") if e.message_id == "m-poison" else None
    )
    worker = make_worker(backend, transport, handler)
    run_until(
        worker.run,
        lambda: len(handler.calls) == 1001 and "m-poison" in parked_reasons(transport),
        timeout=60,
    )
    assert handler.calls["m-poison"] == transport.retry_policy.max_attempts == 3
    assert all(handler.calls[e.message_id] == 1 for e in others)
    assert parked_reasons(transport) == {"m-poison": REASON_EXHAUSTED}
    view = backend.stack.store.get("m-poison")
    assert view is not None and view.status == "parked" and view.attempts == 3
    assert "RuntimeError" in (view.last_error or "")
    assert backend.stack.store.get("m-0999").status == "delivered"  # type: ignore[union-attr]


def test_a_partner_down_is_retried_past_max_attempts_and_parked_only_by_the_time_budget(
    backend: Backend,
) -> None:
    budget = RetryPolicy(delays=(0.2,), max_attempts=2, budget_seconds=2.0)
    transport = backend.transport(budget)
    accept(backend, [sign(backend, "m-down")])
    relay_for(backend, transport).drain()
    handler = CountingHandler(lambda e: UpstreamUnavailable("portal", "HTTP 503"))
    worker = make_worker(backend, transport, handler)
    run_until(worker.run, lambda: "m-down" in parked_reasons(transport), timeout=30)
    assert handler.calls["m-down"] > budget.max_attempts  # attempts do not park an outage
    assert parked_reasons(transport) == {"m-down": "retry_budget_exhausted"}
    view = backend.stack.store.get("m-down")
    assert view is not None and view.status == "parked"


def test_contract_violation_is_parked_at_once(backend: Backend) -> None:
    transport = backend.transport()
    accept(backend, [sign(backend, "m-illegal")])
    relay_for(backend, transport).drain()
    handler = CountingHandler(lambda e: ContractViolation("TrangThaiHoSo 9 -> 2 is not allowed"))
    worker = make_worker(backend, transport, handler)
    run_until(worker.run, lambda: bool(parked_reasons(transport)))
    assert parked_reasons(transport) == {"m-illegal": "contract_violation"}
    assert handler.calls["m-illegal"] == 1
    assert Ledger(backend.stack.engine).outcome(CONSUMER, "m-illegal") is None


def test_committed_but_unpublished_messages_are_published_after_restart(backend: Backend) -> None:
    transport = backend.transport()
    batch = [sign(backend, f"m-{i:04d}") for i in range(50)]
    accept(backend, batch)  # committed; the process "dies" before its relay runs
    assert outbox_rows(backend.stack.engine) == 50
    # after restart: a new relay and a worker
    relay = relay_for(backend, backend.transport())
    handler = CountingHandler()
    worker = make_worker(backend, transport, handler)

    def run(stop) -> None:  # type: ignore[no-untyped-def]
        import threading

        relay_thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
        relay_thread.start()
        worker.run(stop)
        relay_thread.join(10)

    run_until(run, lambda: len(handler.calls) == 50)
    assert all(count == 1 for count in handler.calls.values())
    assert outbox_rows(backend.stack.engine) == 0
    view = backend.stack.store.get("m-0007")
    assert view is not None and "published" in [e.event for e in view.timeline]


@pytest.mark.parametrize("batch_ledger", [True, False], ids=["claim_many", "claim_one"])
def test_crash_after_publish_before_mark_published_duplicates_but_handles_once(
    backend: Backend, batch_ledger: bool
) -> None:
    transport = backend.transport()
    batch = [sign(backend, f"m-{i:04d}") for i in range(30)]
    accept(backend, batch)
    store = backend.stack.store
    # the dying relay: takes the batch (leased 0.5 s), publishes it, dies before marking
    transport.publish(store.pending_outbox(100, lease=timedelta(seconds=0.5)))
    assert outbox_rows(store.engine) == 30
    handler = CountingHandler()
    worker = make_worker(backend, transport, handler, batch_ledger=batch_ledger)
    run_until(worker.run, lambda: len(handler.calls) == 30)
    # restart: the lease ran out, the new relay publishes the same 30 again
    time.sleep(0.6)
    assert relay_for(backend, transport).drain() == 30
    run_until(worker.run, lambda: _queue_empty(backend, transport), timeout=20)
    assert sorted(handler.calls) == sorted(e.message_id for e in batch)
    assert set(handler.calls.values()) == {1}  # the duplicates were acked via the ledger


def _queue_empty(backend: Backend, transport: object) -> bool:
    from sqlalchemy import func, select

    from gateway.messaging.rabbitmq import RabbitTransport
    from gateway.store.schema import queue_messages

    if isinstance(transport, RabbitTransport):
        channel = transport._publish_channel()
        result = channel.queue_declare(transport.settings.queue_for(SYNC), passive=True)
        return bool(result.method.message_count == 0)
    with backend.stack.engine.connect() as connection:
        count = connection.execute(
            select(func.count())
            .select_from(queue_messages)
            .where(queue_messages.c.queue == f"{backend.prefix}.{SYNC}")
        ).scalar_one()
    return bool(count == 0)
