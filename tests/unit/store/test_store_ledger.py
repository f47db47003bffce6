"""Ledger on SQLite: claim states, lease takeover, tokens, concurrent claimers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from gateway.domain.errors import Conflict
from gateway.store import Ledger

LEASE = timedelta(seconds=30)


@pytest.fixture
def ledger(engine: Engine) -> Ledger:
    return Ledger(engine)


def test_claim_busy_done_returns_the_stored_outcome(ledger: Ledger) -> None:
    first = ledger.claim("portal-sync", "m-1", LEASE)
    assert first.state == "claimed" and first.owned and first.token
    assert ledger.claim("portal-sync", "m-1", LEASE).state == "busy"
    assert ledger.claim("other-consumer", "m-1", LEASE).state == "claimed"  # per consumer
    ledger.complete("portal-sync", "m-1", {"portal_code": "00", "n": [1, 2]}, token=first.token)
    again = ledger.claim("portal-sync", "m-1", LEASE)
    assert (again.state, again.outcome) == ("done", {"portal_code": "00", "n": [1, 2]})
    assert ledger.outcome("portal-sync", "m-1") == {"portal_code": "00", "n": [1, 2]}
    assert ledger.outcome("portal-sync", "m-2") is None


def test_an_expired_lease_is_taken_over_and_the_old_owner_learns_it(ledger: Ledger) -> None:
    crashed = ledger.claim("w", "m-1", timedelta(milliseconds=50))
    time.sleep(0.07)
    successor = ledger.claim("w", "m-1", LEASE)
    assert successor.state == "claimed" and successor.taken_over
    assert successor.token != crashed.token
    with pytest.raises(Conflict, match="no longer claimed"):
        ledger.complete("w", "m-1", {"late": True}, token=crashed.token)
    assert ledger.release("w", "m-1", token=crashed.token) is False
    ledger.complete("w", "m-1", {"ok": True}, token=successor.token)
    assert ledger.claim("w", "m-1", LEASE).outcome == {"ok": True}


def test_release_lets_the_message_be_claimed_again(ledger: Ledger) -> None:
    claim = ledger.claim("w", "m-1", LEASE)
    assert ledger.release("w", "m-1", token=claim.token) is True
    assert ledger.claim("w", "m-1", LEASE).state == "claimed"


def test_completed_entries_are_not_released(ledger: Ledger) -> None:
    claim = ledger.claim("w", "m-1", LEASE)
    ledger.complete("w", "m-1", {}, token=claim.token)
    assert ledger.release("w", "m-1") is False
    assert ledger.claim("w", "m-1", LEASE).state == "done"


def test_complete_without_a_claim_records_the_outcome(ledger: Ledger) -> None:
    ledger.complete("w", "m-9", {"direct": 1})
    assert ledger.claim("w", "m-9", LEASE).outcome == {"direct": 1}


def test_invalid_lease_is_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="lease"):
        ledger.claim("w", "m-1", timedelta(0))


def test_concurrent_claimers_one_wins_and_each_message_runs_once(engine: Engine) -> None:
    ledger = Ledger(engine)
    side_effects: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(6)
    message_ids = [f"m-{n}" for n in range(40)]

    def worker() -> None:
        start.wait()
        for message_id in message_ids:
            claim = ledger.claim("consumer", message_id, LEASE)
            if claim.state != "claimed":
                continue
            with lock:
                side_effects[message_id] += 1
            ledger.complete(
                "consumer", message_id, {"by": threading.get_ident()}, token=claim.token
            )

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert side_effects == Counter({message_id: 1 for message_id in message_ids})
    for message_id in message_ids:
        assert ledger.claim("consumer", message_id, LEASE).state == "done"


def test_batches_claim_and_complete_in_one_transaction_each(ledger: Ledger) -> None:
    done_before = ledger.claim("w", "m-2", LEASE)
    ledger.complete("w", "m-2", {"n": 2}, token=done_before.token)
    held = ledger.claim("w", "m-3", LEASE)
    claims = ledger.claim_many("w", ["m-1", "m-2", "m-3", "m-4", "m-1"], LEASE)
    assert {mid: c.state for mid, c in claims.items()} == {
        "m-1": "claimed", "m-2": "done", "m-3": "busy", "m-4": "claimed",
    }  # fmt: skip
    assert claims["m-2"].outcome == {"n": 2}
    token = claims["m-1"].token
    assert token is not None and claims["m-4"].token == token
    lost = ledger.complete_many(
        "w", {"m-1": {"n": 1}, "m-4": {"n": 4}, "m-3": {"n": 3}}, token=token
    )
    assert lost == ["m-3"]  # m-3 belongs to another claim
    assert ledger.outcome("w", "m-1") == {"n": 1} and ledger.outcome("w", "m-4") == {"n": 4}
    assert ledger.outcome("w", "m-3") is None
    ledger.complete("w", "m-3", {"n": 3}, token=held.token)
    assert ledger.claim_many("w", [], LEASE) == {}


def test_batch_claims_take_over_expired_leases(ledger: Ledger) -> None:
    ledger.claim_many("w", ["m-1", "m-2"], timedelta(milliseconds=30))
    time.sleep(0.05)
    claims = ledger.claim_many("w", ["m-1", "m-2", "m-3"], LEASE)
    assert [(c.state, c.taken_over) for c in claims.values()] == [
        ("claimed", True), ("claimed", True), ("claimed", False),
    ] or sorted((mid, c.taken_over) for mid, c in claims.items()) == [
        ("m-1", True), ("m-2", True), ("m-3", False),
    ]  # fmt: skip
