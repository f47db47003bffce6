"""The idempotency repository (its SQL functions in a write transaction) and AuditTrail on SQLite."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DatabaseError

from gateway.domain.errors import InvalidInput
from gateway.store import AuditTrail, IdempotencyRecords, KeyClaim, StoredResponse
from gateway.store import idempotency as keys
from gateway.store.db import write_tx
from gateway.store.idempotency import KeyAlreadyUsed, KeyPolicy

POLICY = KeyPolicy()
JSON = {"content-type": "application/json"}


def state(engine: Engine, write: Callable[[Connection], None]) -> str:
    """Run one write in its own transaction: ``miss`` when it wrote, else what it found."""
    try:
        with write_tx(engine) as connection:
            write(connection)
    except KeyAlreadyUsed as used:
        return used.found.state
    return "miss"


def reserve(engine: Engine, claim: KeyClaim, policy: KeyPolicy = POLICY) -> str:
    return state(engine, lambda c: keys.reserve(c, claim, policy))


def record(
    engine: Engine, claim: KeyClaim, body: bytes = b'{"m":1}', policy: KeyPolicy = POLICY
) -> str:
    return state(engine, lambda c: keys.record(c, claim, StoredResponse(202, body, JSON), policy))


def answer(engine: Engine, claim: KeyClaim, policy: KeyPolicy = POLICY, **response: object) -> None:
    stored = StoredResponse(**{"status": 202, "body": b"{}", **response})  # type: ignore[arg-type]
    state(engine, lambda c: keys.answer(c, claim, stored, policy))


def test_first_request_reserves_then_repeats_get_the_stored_response(engine: Engine) -> None:
    claim = KeyClaim("city", "key-1", "digest")
    records = IdempotencyRecords(engine)
    assert records.lookup(claim).state == "miss"
    assert reserve(engine, claim) == "miss"
    assert reserve(engine, claim) == "in_progress"
    answer(engine, claim, body=b'{"message_id":"m-1"}', headers={"Location": "/v1/messages/m-1"})
    hit = records.lookup(claim)
    assert hit.state == "hit" and hit.response is not None
    assert (hit.response.status, hit.response.body) == (202, b'{"message_id":"m-1"}')
    assert hit.response.headers == {"Location": "/v1/messages/m-1"}
    assert reserve(engine, claim) == "hit"


def test_same_key_different_request_is_a_mismatch_and_callers_are_separate(
    engine: Engine,
) -> None:
    reserve(engine, KeyClaim("city", "key-1", "h1"))
    answer(engine, KeyClaim("city", "key-1", "h1"))
    assert reserve(engine, KeyClaim("city", "key-1", "h2")) == "mismatch"
    assert IdempotencyRecords(engine).lookup(KeyClaim("city", "key-1", "h2")).state == "mismatch"
    assert reserve(engine, KeyClaim("ops", "key-1", "h2")) == "miss"


def test_release_frees_the_key_and_expired_records_are_replaced(engine: Engine) -> None:
    short = KeyPolicy(ttl=timedelta(milliseconds=50))
    claim = KeyClaim("city", "k", "h1")
    reserve(engine, claim, short)
    state(engine, lambda c: keys.release(c, claim))
    assert reserve(engine, claim, short) == "miss"
    answer(engine, claim, short, status=201, body=b"x")
    time.sleep(0.07)
    records = IdempotencyRecords(engine)
    assert records.lookup(KeyClaim("city", "k", "h2")).state == "miss"
    assert reserve(engine, KeyClaim("city", "k", "h2"), short) == "miss"  # the expired one goes
    answer(engine, KeyClaim("city", "k2", "h"), short, status=200, body=b"")
    time.sleep(0.07)
    assert records.purge_expired() == 2


def test_audit_records_and_lists_newest_first(engine: Engine) -> None:
    trail = AuditTrail(engine)
    first = trail.record("ops:lan", "replay", "m-1", "portal was down", {"new_message_id": "m-2"})
    trail.record("ops:lan", "replay", "m-3", "customer request")
    trail.record("ops:minh", "keys.rotate", "gw-20261127T034500Z", "scheduled rotation")
    assert [e.target for e in trail.list()] == ["gw-20261127T034500Z", "m-3", "m-1"]
    assert [e.target for e in trail.list(actor="ops:lan", action="replay")] == ["m-3", "m-1"]
    (entry,) = trail.list(target="m-1")
    assert entry == first and entry.detail == {"new_message_id": "m-2"}
    assert trail.list(since=first.at, limit=1)[0].action == "keys.rotate"


def test_audit_needs_a_reason_and_an_actor(engine: Engine) -> None:
    trail = AuditTrail(engine)
    with pytest.raises(InvalidInput, match="reason"):
        trail.record("ops", "replay", "m-1", "  ")
    with pytest.raises(InvalidInput, match="actor"):
        trail.record("", "replay", "m-1", "why")


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit SET reason = 'nothing happened'", "DELETE FROM audit",
     "UPDATE evidence_checkpoints SET kid = 'x'"],
)  # fmt: skip
def test_append_only_tables_refuse_update_and_delete(engine: Engine, statement: str) -> None:
    AuditTrail(engine).record("ops", "replay", "m-1", "why")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO evidence_checkpoints (at, writer_chain_id, kid, payload, jws) "
                 "VALUES ('2026-11-27 00:00:00', 'c', 'k', '{}', 'x')")
        )  # fmt: skip
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    assert len(AuditTrail(engine).list()) == 1


def test_a_reservation_left_by_a_dead_process_frees_the_key_after_its_lease(engine: Engine) -> None:
    policy = KeyPolicy(ttl=timedelta(hours=24), reservation=timedelta(milliseconds=50))
    claim = KeyClaim("city", "k", "h")
    assert reserve(engine, claim, policy) == "miss"  # ... and the process dies here
    assert reserve(engine, claim, policy) == "in_progress"
    time.sleep(0.07)
    assert reserve(engine, claim, policy) == "miss"  # retryable, not blocked for a day
    answer(engine, claim, policy)
    time.sleep(0.07)
    assert reserve(engine, claim, policy) == "hit"  # a saved answer lives the whole ttl


def test_record_stores_the_answer_with_no_reservation_and_finds_a_used_key(
    engine: Engine,
) -> None:
    records = IdempotencyRecords(engine)
    assert record(engine, KeyClaim("city", "k-1", "h")) == "miss"  # recorded now
    hit = records.lookup(KeyClaim("city", "k-1", "h"))
    assert hit.state == "hit" and hit.response is not None
    assert (hit.response.status, hit.response.body) == (202, b'{"m":1}')
    assert hit.response.headers == JSON
    assert record(engine, KeyClaim("city", "k-1", "h"), b'{"m":2}') == "hit"  # not overwritten
    assert records.lookup(KeyClaim("city", "k-1", "h")).response.body == b'{"m":1}'  # type: ignore[union-attr]
    assert record(engine, KeyClaim("city", "k-1", "other")) == "mismatch"
    assert reserve(engine, KeyClaim("city", "k-2", "h")) == "miss"  # the slow path's reservation
    assert record(engine, KeyClaim("city", "k-2", "h")) == "in_progress"


def test_record_rolls_back_with_its_transaction_and_replaces_an_expired_record(
    engine: Engine,
) -> None:
    short = KeyPolicy(ttl=timedelta(milliseconds=50))
    claim = KeyClaim("city", "k", "h")

    class Refused(Exception):
        pass

    with pytest.raises(Refused), write_tx(engine) as connection:
        keys.record(connection, claim, StoredResponse(202, b"{}"), short)
        raise Refused  # the operation's effect failed: the key must not stay recorded
    assert IdempotencyRecords(engine).lookup(claim).state == "miss"
    assert record(engine, claim, policy=short) == "miss"
    time.sleep(0.07)
    assert record(engine, KeyClaim("city", "k", "other"), policy=short) == "miss"  # replaced
