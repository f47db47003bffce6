"""IdempotencyStore and AuditTrail on SQLite."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError

from gateway.domain.errors import InvalidInput
from gateway.store import AuditTrail, IdempotencyStore, request_hash


@pytest.fixture
def records(engine: Engine) -> IdempotencyStore:
    return IdempotencyStore(engine)


def test_request_hash_depends_on_method_path_and_exact_body() -> None:
    base = request_hash("post", "/v1/dossiers", b'{"a":1}')
    assert base == request_hash("POST", "/v1/dossiers", b'{"a":1}')
    assert len({base, request_hash("POST", "/v1/dossiers", b'{"a": 1}'),
                request_hash("POST", "/v1/other", b'{"a":1}'), request_hash("PUT", "/v1/dossiers", b'{"a":1}')}) == 4  # fmt: skip


def test_first_request_reserves_then_repeats_get_the_stored_response(
    records: IdempotencyStore,
) -> None:
    digest = request_hash("POST", "/v1/dossiers", b"{}")
    assert records.lookup("city", "key-1", digest).state == "miss"
    assert records.begin("city", "key-1", digest).state == "miss"
    assert records.begin("city", "key-1", digest).state == "in_progress"
    records.save("city", "key-1", digest, status=202, body=b'{"message_id":"m-1"}',
                 headers={"Location": "/v1/messages/m-1"})  # fmt: skip
    hit = records.begin("city", "key-1", digest)
    assert hit.state == "hit" and hit.response is not None
    assert (hit.response.status, hit.response.body) == (202, b'{"message_id":"m-1"}')
    assert hit.response.headers == {"Location": "/v1/messages/m-1"}
    assert records.lookup("city", "key-1", digest) == hit


def test_same_key_different_body_is_a_mismatch_and_callers_are_separate(
    records: IdempotencyStore,
) -> None:
    records.begin("city", "key-1", "h1")
    records.save("city", "key-1", "h1", status=202, body=b"{}")
    assert records.begin("city", "key-1", "h2").state == "mismatch"
    assert records.lookup("city", "key-1", "h2").state == "mismatch"
    assert records.begin("ops", "key-1", "h2").state == "miss"


def test_abandon_frees_the_key_and_expired_records_are_replaced(engine: Engine) -> None:
    records = IdempotencyStore(engine, ttl=timedelta(milliseconds=50))
    records.begin("city", "k", "h1")
    records.abandon("city", "k", "h1")
    assert records.begin("city", "k", "h1").state == "miss"
    records.save("city", "k", "h1", status=201, body=b"x")
    time.sleep(0.07)
    assert records.lookup("city", "k", "h2").state == "miss"
    assert records.begin("city", "k", "h2").state == "miss"  # the expired one is replaced
    records.save("city", "k2", "h", status=200, body=b"")
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
    records = IdempotencyStore(
        engine, ttl=timedelta(hours=24), reservation=timedelta(milliseconds=50)
    )
    assert records.begin("city", "k", "h").state == "miss"  # ... and the process dies here
    assert records.begin("city", "k", "h").state == "in_progress"
    time.sleep(0.07)
    assert records.begin("city", "k", "h").state == "miss"  # retryable, not blocked for a day
    records.save("city", "k", "h", status=202, body=b"{}")
    time.sleep(0.07)
    assert records.begin("city", "k", "h").state == "hit"  # a saved answer lives the whole ttl


def _record(records: IdempotencyStore, key: str, digest: str, body: bytes = b'{"m":1}') -> str:
    from gateway.store.db import write_tx

    with write_tx(records.engine) as connection:
        return records.record_in(
            connection, "city", key, digest, status=202, body=body,
            headers={"content-type": "application/json"},
        ).state  # fmt: skip


def test_record_in_stores_the_answer_with_no_reservation_and_finds_a_used_key(
    records: IdempotencyStore,
) -> None:
    assert _record(records, "k-1", "h") == "miss"  # recorded now
    hit = records.lookup("city", "k-1", "h")
    assert hit.state == "hit" and hit.response is not None
    assert (hit.response.status, hit.response.body) == (202, b'{"m":1}')
    assert hit.response.headers == {"content-type": "application/json"}
    assert _record(records, "k-1", "h", body=b'{"m":2}') == "hit"  # nothing overwritten
    assert records.lookup("city", "k-1", "h").response.body == b'{"m":1}'  # type: ignore[union-attr]
    assert _record(records, "k-1", "other") == "mismatch"
    assert records.begin("city", "k-2", "h").state == "miss"  # a reservation of the slow path
    assert _record(records, "k-2", "h") == "in_progress"


def test_record_in_rolls_back_with_its_transaction_and_replaces_an_expired_record(
    engine: Engine,
) -> None:
    from gateway.store.db import write_tx

    records = IdempotencyStore(engine, ttl=timedelta(milliseconds=50))

    class Refused(Exception):
        pass

    with pytest.raises(Refused), write_tx(engine) as connection:
        records.record_in(connection, "city", "k", "h", status=202, body=b"{}")
        raise Refused  # the operation's effect failed: the key must not stay recorded
    assert records.lookup("city", "k", "h").state == "miss"
    assert _record(records, "k", "h") == "miss"
    time.sleep(0.07)
    assert _record(records, "k", "other") == "miss"  # the expired record is replaced
