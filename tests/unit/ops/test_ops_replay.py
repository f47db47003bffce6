"""Replay: a failing partner parks messages; replay delivers each exactly once, safely."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.domain.messages import Envelope
from gateway.envelope import EnvelopeSigner
from gateway.keys import KeyStore
from gateway.messaging.port import ParkedMessage, PublishFailed, Transport
from gateway.ops.messages import MessageFilter, show_message
from gateway.ops.replay import (
    ReplayRequest,
    replay_messages,
    select_parked,
)
from gateway.testing.scenario import Scenario

OPERATOR = "os:tester"


def parked_ids(scenario: Scenario) -> set[str]:
    return {p.envelope.message_id for p in scenario.ctx.transport.list_parked(1000)}


def replay(
    scenario: Scenario,
    *,
    ids: Sequence[str] = (),
    flt: MessageFilter | None = None,
    dry_run: bool = False,
    transport: Transport | None = None,
) -> list[str]:
    ctx = scenario.ctx
    used = transport or ctx.transport
    selection = select_parked(ctx.store, used, message_ids=ids, flt=flt)
    request = ReplayRequest(OPERATOR, "portal back up after INC-42", dry_run=dry_run)
    results = replay_messages(ctx.store, ctx.audit, used, ctx.signer, selection, request)
    return [r.outcome for r in results]


def park_all(scenario: Scenario, count: int) -> list[str]:
    scenario.partner.failing = "down"
    ids = scenario.submit(count)
    scenario.drain(until=lambda: parked_ids(scenario) == set(ids))
    assert parked_ids(scenario) == set(ids)
    scenario.partner.failing = None
    return ids


def test_failing_partner_parks_then_replay_by_filter_delivers_each_exactly_once(
    scenario: Scenario,
) -> None:
    ids = park_all(scenario, 6)
    assert sum(scenario.partner.received.values()) == 0
    views = [scenario.ctx.store.get(i) for i in ids]
    assert {v.status for v in views if v} == {"parked"}

    outcomes = replay(scenario, flt=MessageFilter.from_pairs(["error=upstream_unavailable"]))
    assert outcomes == ["replayed"] * 6
    assert parked_ids(scenario) == set()
    scenario.drain(until=lambda: len(scenario.partner.received) == 6)

    assert len(scenario.partner.received) == 6
    assert set(scenario.partner.received.values()) == {1}
    # the whole story of one message, as `messages show` tells it
    detail = show_message(scenario.ctx.store, scenario.ctx.audit, ids[0], actor=OPERATOR)
    events = [e.event for e in detail.view.timeline]
    assert events[:2] == ["accepted", "published"]
    assert events.count("attempt_failed") == 2 and "retrying" in events
    assert events[-4:] == ["parked", "replayed", "attempt_started", "delivered"]
    assert detail.view.status == "delivered"  # the same message id, delivered on replay
    assert any("upstream_unavailable" in (e.detail or "") for e in detail.errors)
    replayed = next(e for e in detail.view.timeline if e.event == "replayed")
    assert replayed.detail and "replay 1" in replayed.detail and OPERATOR in replayed.detail
    assert replayed.status == "replayed"
    # one audit entry per replayed message: who, why, which count
    entries = scenario.ctx.audit.list(action="replay")
    assert {e.target for e in entries} == {f"message:{i}" for i in ids}
    assert all(e.actor == OPERATOR and "INC-42" in e.reason for e in entries)
    assert {e.detail["replay_count"] for e in entries} == {1}


def test_a_replayed_message_leaves_the_parked_listing_and_a_second_replay_counts_two(
    scenario: Scenario,
) -> None:
    (message_id,) = park_all(scenario, 1)
    scenario.partner.failing = "down"
    assert replay(scenario, ids=[message_id]) == ["replayed"]
    assert scenario.ctx.store.get(message_id).status == "replayed"  # type: ignore[union-attr]
    assert message_id not in scenario.ctx.store.parked_ids()  # tthc_messages_parked goes down
    scenario.drain(until=lambda: parked_ids(scenario) == {message_id})
    scenario.partner.failing = None
    assert replay(scenario, ids=[message_id]) == ["replayed"]
    scenario.drain(until=lambda: len(scenario.partner.received) == 1)
    counts = [e.detail["replay_count"] for e in scenario.ctx.audit.list(action="replay")]
    assert sorted(counts) == [1, 2]


def test_filter_selects_only_matching_parked_messages(scenario: Scenario) -> None:
    ids = park_all(scenario, 3)
    view = scenario.ctx.store.get(ids[1])
    assert view is not None and view.dossier_code
    outcomes = replay(scenario, flt=MessageFilter.from_pairs([f"dossier={view.dossier_code}"]))
    assert outcomes == ["replayed"]
    assert parked_ids(scenario) == {ids[0], ids[2]}
    assert replay(scenario, flt=MessageFilter.from_pairs(["type=portal.dossier.progress"])) == []


def test_dry_run_writes_nothing(scenario: Scenario) -> None:
    ids = park_all(scenario, 2)
    assert replay(scenario, ids=ids, dry_run=True) == ["would_replay"] * 2
    assert parked_ids(scenario) == set(ids)
    assert scenario.ctx.audit.list() == []
    assert {scenario.ctx.store.get(i).status for i in ids} == {"parked"}  # type: ignore[union-attr]


def test_ids_not_parked_are_reported(scenario: Scenario) -> None:
    ids = park_all(scenario, 1)
    assert replay(scenario, ids=[ids[0], "no-such-id"]) == ["not_parked", "replayed"]


class CrashAt:
    """A transport that dies (like SIGKILL: BaseException, nothing handled) at one step."""

    def __init__(self, inner: Transport, step: str) -> None:
        self.inner = inner
        self.step = step
        self.retry_policy = inner.retry_policy

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        if self.step == "before_publish":
            raise SystemExit("killed before publish")
        self.inner.publish(envelopes)
        if self.step == "after_publish":
            raise SystemExit("killed after publish")

    def take_parked(self, message_id: str) -> ParkedMessage | None:
        if self.step == "before_take":
            raise SystemExit("killed before unparking")
        return self.inner.take_parked(message_id)


@pytest.mark.parametrize("step", ["before_publish", "after_publish", "before_take"])
def test_killed_at_any_step_then_run_again_loses_nothing_and_delivers_once(
    scenario: Scenario, step: str
) -> None:
    ids = park_all(scenario, 3)
    crashing = CrashAt(scenario.ctx.transport, step)
    with pytest.raises(SystemExit):
        replay(scenario, ids=ids, transport=crashing)  # type: ignore[arg-type]
    assert parked_ids(scenario) == set(ids)  # the first one is still parked too
    scenario.drain()  # a copy published before the crash may be delivered meanwhile
    assert replay(scenario, ids=ids) == ["replayed"] * 3
    scenario.drain(until=lambda: len(scenario.partner.received) == 3)
    assert parked_ids(scenario) == set()
    assert sorted(scenario.partner.received.values()) == [1, 1, 1]


def test_broker_down_stops_the_batch_and_leaves_the_rest_parked(scenario: Scenario) -> None:
    ids = park_all(scenario, 3)

    class Down(CrashAt):
        def publish(self, envelopes: Sequence[Envelope]) -> None:
            raise PublishFailed("broker unreachable")

    outcomes = replay(scenario, ids=ids, transport=Down(scenario.ctx.transport, ""))  # type: ignore[arg-type]
    assert outcomes == ["failed"]
    assert parked_ids(scenario) == set(ids)
    assert [e.target for e in scenario.ctx.audit.list(action="replay_failed")] == [
        f"message:{ids[0]}"
    ]  # the attempt is audited (intent first), and so is its failure
    assert {scenario.ctx.store.get(i).status for i in ids} == {"parked"}  # type: ignore[union-attr]


def test_rate_limit_paces_replays(scenario: Scenario) -> None:
    ids = park_all(scenario, 4)
    ctx = scenario.ctx
    selection = select_parked(ctx.store, ctx.transport, message_ids=ids)
    request = ReplayRequest(OPERATOR, "paced", rate_per_second=20)
    started = time.monotonic()
    results = replay_messages(ctx.store, ctx.audit, ctx.transport, ctx.signer, selection, request)
    assert [r.outcome for r in results] == ["replayed"] * 4
    assert time.monotonic() - started >= 3 / 20  # 4 replays, 3 intervals of 50 ms


def test_reason_is_required() -> None:
    from gateway.domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match="reason"):
        ReplayRequest(OPERATOR, "  ")
    assert ReplayRequest(OPERATOR, "", dry_run=True).dry_run


def test_a_forged_copy_parked_as_unknown_kid_is_refused_as_tampered_not_signed(
    scenario: Scenario, tmp_path: Path
) -> None:
    """The attack: publish a forged copy reusing a real message id under a key the gateway
    does not know; it is parked as unknown_kid; the runbook's `replay --filter
    error=unknown_kid` must refuse it as tampered and sign nothing."""
    (message_id,) = scenario.submit(1)
    scenario.drain(until=lambda: len(scenario.partner.received) == 1)
    real = scenario.ctx.store.get_envelope(message_id)
    assert real is not None
    past = datetime(2020, 1, 1, tzinfo=UTC)  # key ids name their second: make it another one
    attacker_keys = KeyStore.ensure(
        tmp_path / "atk", "ES256", timedelta(days=1), clock=lambda: past
    )
    attacker = EnvelopeSigner(attacker_keys)
    forged = attacker.sign(
        message_id=message_id,
        type=real.type,
        recipient=real.recipient,
        body=real.body.replace(b'"TrangThaiHoSo": 1', b'"TrangThaiHoSo": 10'),
        correlation_id=real.correlation_id,
    )
    assert forged.body != real.body
    scenario.ctx.transport.publish([forged])
    scenario.drain(until=lambda: parked_ids(scenario) == {message_id})
    (reason,) = [p.reason for p in scenario.ctx.transport.list_parked()]
    assert reason == "unknown_kid"
    view = scenario.ctx.store.get(message_id)
    assert view is not None and view.status == "delivered"  # the forgery changed nothing
    assert view.timeline[-1].event == "refused"  # ...but is noted on the timeline

    published: list[Envelope] = []

    class Watching(CrashAt):
        def publish(self, envelopes: Sequence[Envelope]) -> None:
            published.extend(envelopes)
            self.inner.publish(envelopes)

    watching = Watching(scenario.ctx.transport, "")
    outcomes = replay(
        scenario,
        flt=MessageFilter.from_pairs([f"error={reason}"]),
        transport=watching,  # type: ignore[arg-type]
    )
    assert outcomes == ["tampered"] and published == []  # nothing was signed or sent
    refused = scenario.ctx.audit.list(action="replay_refused")
    assert len(refused) == 1 and refused[0].detail["outcome"] == "tampered"
    assert parked_ids(scenario) == {message_id}  # kept as evidence
    assert sum(scenario.partner.received.values()) == 1


def test_a_message_not_in_the_store_cannot_be_replayed(scenario: Scenario) -> None:
    from gateway.messaging.port import Delivery

    ghost = scenario.ctx.signer.sign(
        message_id="m-ghost", type="portal.dossier.sync", recipient="portal",
        body=b'{"MaHoSo": "x"}', correlation_id="c",
    )  # fmt: skip
    scenario.ctx.transport.park(Delivery(ghost, 1, "q", ghost.type), "unknown_kid", "x")
    assert replay(scenario, ids=["m-ghost"]) == ["refused"]
    assert parked_ids(scenario) == {"m-ghost"}
