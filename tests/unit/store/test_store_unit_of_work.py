"""The unit of work: one transaction per command, and its commit strategies (group commit on
SQLite: batched writes, one savepoint per item, futures resolved after the commit)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import Connection

from gateway.domain.errors import Conflict, IllegalTransition, SignatureInvalid
from gateway.domain.messages import Envelope
from gateway.domain.status import DossierStatus
from gateway.envelope import EnvelopeSigner
from gateway.keys import KeyStore
from gateway.store.db import read_tx, utcnow
from gateway.store.dossier_states import current_status
from gateway.store.idempotency import (
    IdempotencyRecords,
    KeyAlreadyUsed,
    KeyClaim,
    StoredResponse,
)
from gateway.store.schema import messages, outbox
from gateway.store.unit_of_work import (
    GroupCommit,
    PooledCommit,
    SqlUnitOfWork,
    commit_strategy,
    units_of_work,
)

CODE = "000.00.00.H26-261127-0001"


@pytest.fixture
def probe(engine: Engine) -> Engine:
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE gc_probe (id TEXT PRIMARY KEY)")
    return engine


def _insert(value: str) -> Any:
    def work(connection: Connection) -> str:
        connection.execute(text("INSERT INTO gc_probe (id) VALUES (:v)"), {"v": value})
        return value

    return work


def _stored(engine: Engine) -> set[str]:
    with read_tx(engine) as connection:
        return {row[0] for row in connection.execute(text("SELECT id FROM gc_probe"))}


def _count(engine: Engine, table: Any) -> int:
    with read_tx(engine) as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def signer(keystore: KeyStore) -> EnvelopeSigner:
    return EnvelopeSigner(keystore)


def envelope(signer: EnvelopeSigner, message_id: str, body: bytes = b"{}") -> Envelope:
    return signer.sign(
        message_id=message_id,
        type="portal.dossier.sync",
        recipient="portal",
        body=body,
        correlation_id="c-1",
    )


# -- the unit of work ---------------------------------------------------------------------


def test_the_staged_writes_commit_together(engine: Engine, signer: EnvelopeSigner) -> None:
    claim = KeyClaim("city", "key-1", "h")
    uow = units_of_work(engine)()
    with uow:
        uow.idempotency.record(claim, StoredResponse(202, b'{"messageId":"m-1"}'))
        uow.dossier_states.advance(CODE, DossierStatus.ACCEPTED, "m-1")
        uow.messages.add(envelope(signer, "m-1"), dossier_code=CODE, partner="portal")
        assert _count(engine, messages) == 0  # staged: nothing written yet
        assert uow.commit().result(5) is None
    assert _count(engine, messages) == _count(engine, outbox) == 1
    assert current_status(engine, CODE) == DossierStatus.ACCEPTED
    found = IdempotencyRecords(engine).lookup(claim)
    assert found.state == "hit" and found.response is not None
    assert found.response.body == b'{"messageId":"m-1"}'


@pytest.mark.parametrize("refusal", ["illegal transition", "key used", "body conflict"])
def test_a_refused_step_records_nothing_of_its_unit_of_work(
    engine: Engine, signer: EnvelopeSigner, refusal: str
) -> None:
    make = units_of_work(engine)
    with make() as uow:  # the state before: dossier at 4, key used, message m-0 stored
        uow.idempotency.record(KeyClaim("city", "used", "h"), StoredResponse(202, b"{}"))
        uow.dossier_states.advance(CODE, DossierStatus.IN_PROCESS, "m-0")
        uow.messages.add(envelope(signer, "m-0", b"{}"), dossier_code=CODE, partner="portal")
        uow.commit().result(5)
    key = KeyClaim("city", "used" if refusal == "key used" else "fresh", "h")
    status = DossierStatus.ACCEPTED if refusal == "illegal transition" else DossierStatus.PROCESSED
    message_id, body = ("m-0", b'{"other":1}') if refusal == "body conflict" else ("m-1", b"{}")
    with make() as uow:
        uow.idempotency.record(key, StoredResponse(202, b"{}"))
        uow.dossier_states.advance(CODE, status, message_id)
        uow.messages.add(envelope(signer, message_id, body), dossier_code=CODE, partner="portal")
        refused = uow.commit()
    expected = {"illegal transition": IllegalTransition, "key used": KeyAlreadyUsed}
    with pytest.raises(expected.get(refusal, Conflict)):
        refused.result(5)
    assert _count(engine, messages) == 1
    assert current_status(engine, CODE) == DossierStatus.IN_PROCESS
    assert IdempotencyRecords(engine).lookup(KeyClaim("city", "fresh", "h")).state == "miss"


def test_a_used_key_says_what_it_holds(engine: Engine) -> None:
    make = units_of_work(engine)
    claim = KeyClaim("city", "key-1", "h")
    with make() as uow:
        uow.idempotency.reserve(claim)
        uow.commit().result(5)
    for other, state in ((claim, "in_progress"), (KeyClaim("city", "key-1", "h2"), "mismatch")):
        with make() as uow:
            uow.idempotency.reserve(other)
            with pytest.raises(KeyAlreadyUsed) as used:
                uow.commit().result(5)
        assert used.value.found.state == state
    with make() as uow:
        uow.idempotency.answer(claim, StoredResponse(201, b"x", {"location": "/m/1"}))
        uow.commit().result(5)
    with make() as uow:
        uow.idempotency.record(claim, StoredResponse(202, b"y"))
        with pytest.raises(KeyAlreadyUsed) as used:
            uow.commit().result(5)
    assert used.value.found.response == StoredResponse(201, b"x", {"location": "/m/1"})


def test_release_frees_a_reservation_and_expired_records_are_replaced(engine: Engine) -> None:
    from gateway.store.idempotency import KeyPolicy

    make = units_of_work(engine, KeyPolicy(ttl=timedelta(milliseconds=50)))
    claim = KeyClaim("city", "k", "h1")
    for stage in ("reserve", "release", "reserve", "answer"):
        with make() as uow:
            if stage == "answer":
                uow.idempotency.answer(claim, StoredResponse(201, b"x"))
            else:
                getattr(uow.idempotency, stage)(claim)
            uow.commit().result(5)
    time.sleep(0.07)
    records = IdempotencyRecords(engine)
    assert records.lookup(KeyClaim("city", "k", "h2")).state == "miss"
    with make() as uow:
        uow.idempotency.reserve(KeyClaim("city", "k", "h2"))  # the expired one is replaced
        uow.commit().result(5)
    time.sleep(0.07)
    assert records.purge_expired() == 1


def test_a_spent_nonce_is_refused_and_a_refused_push_spends_nothing(
    engine: Engine, signer: EnvelopeSigner
) -> None:
    make = units_of_work(engine)
    with make() as uow:
        uow.nonces.spend("nonce-0001", utcnow())
        uow.messages.add(envelope(signer, "m-0", b"{}"), dossier_code=None, partner="city")
        uow.commit().result(5)
    with make() as uow:
        uow.nonces.spend("nonce-0001", utcnow())
        with pytest.raises(SignatureInvalid, match="already used"):
            uow.commit().result(5)
    with make() as uow:
        uow.nonces.spend("nonce-0002", utcnow())
        uow.messages.add(envelope(signer, "m-0", b"{}"), dossier_code=None, partner="city")
        uow.messages.add(envelope(signer, "m-0", b"{1}"), dossier_code=None, partner="city")
        with pytest.raises(Conflict):
            uow.commit().result(5)
    with make() as uow:  # nonce-0002 was not spent; keep_existing keeps the first body
        uow.nonces.spend("nonce-0002", utcnow())
        uow.messages.add(envelope(signer, "m-0", b"{1}"), dossier_code=None, partner="city", keep_existing=True)  # fmt: skip
        uow.commit().result(5)
    assert _count(engine, messages) == 1


def test_a_unit_of_work_commits_once_and_leaving_it_discards(engine: Engine) -> None:
    make = units_of_work(engine)
    uow = make()
    uow.commit().result(5)
    with pytest.raises(RuntimeError, match="commits once"):
        uow.commit()
    with make() as discarded:
        discarded.dossier_states.advance(CODE, DossierStatus.ACCEPTED, "m-1")
    assert discarded.commit().result(5) is None  # nothing was left to commit
    assert current_status(engine, CODE) is None


def test_each_engine_has_one_strategy_by_its_dialect(engine: Engine) -> None:
    assert isinstance(commit_strategy(engine), GroupCommit)
    assert commit_strategy(engine) is commit_strategy(engine)
    postgres = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        assert isinstance(commit_strategy(postgres), PooledCommit)
    finally:
        postgres.dispose()
    assert isinstance(units_of_work(engine)(), SqlUnitOfWork)


# -- group commit -------------------------------------------------------------------------


def test_concurrent_items_share_transactions_and_each_gets_its_result(probe: Engine) -> None:
    committer = GroupCommit(probe, max_wait=0.005)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: committer.submit(_insert(f"v{i}")).result(), range(40)))
    assert results == [f"v{i}" for i in range(40)]
    assert _stored(probe) == set(results)
    assert committer.items == 40
    assert committer.batches < 40  # at least two items shared a commit


def test_a_refused_item_is_rolled_back_alone(probe: Engine) -> None:
    committer = GroupCommit(probe, max_wait=0.05)

    def refuse(connection: Connection) -> None:
        connection.execute(text("INSERT INTO gc_probe (id) VALUES ('refused')"))
        raise Conflict("dossier D-1: illegal transition")

    futures = [
        committer.submit(_insert("a")),
        committer.submit(refuse),
        committer.submit(_insert("b")),
        committer.submit(_insert("a")),  # duplicate key: IntegrityError in its savepoint
    ]
    assert futures[0].result(5) == "a"
    with pytest.raises(Conflict, match="illegal transition"):
        futures[1].result(5)
    assert futures[2].result(5) == "b"
    with pytest.raises(Exception, match="UNIQUE"):
        futures[3].result(5)
    assert _stored(probe) == {"a", "b"}


def test_the_future_resolves_only_after_the_commit(probe: Engine) -> None:
    committer = GroupCommit(probe)
    seen: list[set[str]] = []
    done = threading.Event()

    def on_done(_future: Future[Any]) -> None:
        seen.append(_stored(probe))  # another connection: sees only committed rows
        done.set()

    committer.submit(_insert("durable")).add_done_callback(on_done)
    assert done.wait(5)
    assert seen == [{"durable"}]


def test_a_failed_commit_fails_every_item_of_the_batch(probe: Engine) -> None:
    committer = GroupCommit(probe, max_wait=0.05)

    def fail(_connection: Any) -> None:
        raise OSError("disk full")

    event.listen(probe, "commit", fail)
    try:
        futures = [committer.submit(_insert(v)) for v in ("x", "y")]
        for future in futures:
            with pytest.raises(OSError, match="disk full"):
                future.result(5)
    finally:
        event.remove(probe, "commit", fail)
    assert _stored(probe) == set()
    assert committer.submit(_insert("z")).result(5) == "z"  # the committer goes on


def test_the_thread_stops_when_idle_and_starts_again(probe: Engine) -> None:
    committer = GroupCommit(probe, idle=0.05)
    assert committer.submit(_insert("one")).result(5) == "one"
    deadline = time.monotonic() + 5
    while committer.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not committer.running
    assert committer.submit(_insert("two")).result(5) == "two"
    assert _stored(probe) == {"one", "two"}


def test_max_batch_must_be_positive(probe: Engine) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommit(probe, max_batch=0)


def test_a_batch_without_refusals_uses_no_savepoints(probe: Engine) -> None:
    committer = GroupCommit(probe, max_wait=0.05)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(probe, "before_cursor_execute", seen)
    try:
        futures = [committer.submit(_insert(v)) for v in ("p", "q", "r")]
        assert [f.result(5) for f in futures] == ["p", "q", "r"]
    finally:
        event.remove(probe, "before_cursor_execute", seen)
    assert not [s for s in statements if "SAVEPOINT" in s.upper()]
    assert _stored(probe) == {"p", "q", "r"}
