"""The store on a real PostgreSQL: atomicity, concurrency rules, append-only, evidence."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.domain.errors import Conflict, IllegalTransition
from gateway.domain.messages import Envelope, MessageType
from gateway.domain.status import DossierStatus
from gateway.envelope import EnvelopeSigner
from gateway.keys import KeyStore
from gateway.store import (
    Acceptance,
    AuditTrail,
    EvidenceEntry,
    EvidenceLog,
    KeyClaim,
    Ledger,
    MessageStore,
    current_revision,
    make_engine,
    verify,
)
from gateway.store.dossier_states import current_status
from gateway.store.idempotency import IdempotencyRecords, KeyAlreadyUsed, StoredResponse
from gateway.store.schema import outbox
from gateway.store.unit_of_work import PooledCommit, commit_strategy, units_of_work

pytestmark = pytest.mark.integration
LEASE = timedelta(seconds=30)
AES_KEY = bytes(range(32))


def make(signer: EnvelopeSigner, message_id: str, body: bytes = b'{"n":1}') -> Envelope:
    return signer.sign(
        message_id=message_id, type=MessageType.PORTAL_DOSSIER_SYNC, recipient="portal",
        body=body, correlation_id=f"c-{message_id}",
    )  # fmt: skip


def outbox_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one())


def run_threads(count: int, target: Callable[[int], None]) -> None:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        barrier.wait()
        try:
            target(index)
        except BaseException as error:  # noqa: BLE001 - collected and re-raised below
            errors.append(error)

    threads = [threading.Thread(target=body, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]


def test_schema_is_migrated_in_its_own_schema(pg_engine: Engine) -> None:
    assert current_revision(pg_engine) is not None
    tables = set(sa.inspect(pg_engine).get_table_names())
    assert {"messages", "message_events", "outbox", "processed", "idempotency", "audit",
            "evidence_records", "evidence_checkpoints"} <= tables  # fmt: skip


def test_accept_is_atomic_and_idempotent_under_concurrent_writers(
    pg_engine: Engine, keystore: KeyStore
) -> None:
    store = MessageStore(pg_engine)
    signer = EnvelopeSigner(keystore)
    with pg_engine.begin() as connection:
        connection.execute(sa.text(
            "CREATE FUNCTION fail_boom() RETURNS trigger AS $$ BEGIN "
            "IF NEW.message_id = 'boom' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; "
            "END; $$ LANGUAGE plpgsql"
        ))  # fmt: skip
        connection.execute(sa.text(
            "CREATE TRIGGER fail_boom BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION fail_boom()"
        ))  # fmt: skip
    with pytest.raises(sa.exc.DatabaseError, match="disk full"):
        store.accept_many([Acceptance(make(signer, m), None, "portal") for m in ("a", "boom", "b")])
    assert store.get("a") is None and outbox_rows(pg_engine) == 0

    envelope = make(signer, "same")
    results: list[bool] = []
    run_threads(
        6, lambda _: results.append(store.accept(envelope, dossier_code=None, partner="portal"))
    )
    assert sorted(results) == [False] * 5 + [True]
    view = store.get("same")
    assert view is not None and [e.event for e in view.timeline] == ["accepted"]


def test_two_relays_never_take_the_same_outbox_rows(pg_engine: Engine, keystore: KeyStore) -> None:
    store = MessageStore(pg_engine)
    signer = EnvelopeSigner(keystore)
    store.accept_many([Acceptance(make(signer, f"m-{n}"), None, "portal") for n in range(200)])
    taken: list[list[str]] = [[], []]

    def relay(index: int) -> None:
        while batch := store.pending_outbox(7):
            taken[index].extend(e.message_id for e in batch)
            store.mark_published(e.message_id for e in batch)

    run_threads(2, relay)
    assert not set(taken[0]) & set(taken[1])
    assert len(taken[0]) + len(taken[1]) == 200
    assert outbox_rows(pg_engine) == 0
    assert len(store.list(status="published", limit=1000)) == 200


def test_timeline_and_listing_on_postgres(pg_engine: Engine, keystore: KeyStore) -> None:
    store = MessageStore(pg_engine)
    store.accept(
        make(EnvelopeSigner(keystore), "m-1"),
        dossier_code="000.00.00.H26-241120-0001",
        partner="portal",
    )
    store.record_event(
        "m-1", "attempt_failed", status="retrying", detail="portal: 100% busy", attempt=3
    )
    store.record_event("m-1", "attempt_started", attempt=2)
    view = store.get("m-1")
    assert view is not None and (view.status, view.attempts, view.last_error) == (
        "retrying",
        3,
        "portal: 100% busy",
    )
    assert [v.message_id for v in store.list(error_contains="100%")] == ["m-1"]
    assert store.list(error_contains="1000") == []


def test_ledger_two_threads_one_wins_every_message(pg_engine: Engine) -> None:
    ledgers = [
        Ledger(pg_engine),
        Ledger(make_engine(str(pg_engine.url.render_as_string(hide_password=False)))),
    ]
    side_effects: Counter[str] = Counter()
    lock = threading.Lock()
    ids = [f"m-{n}" for n in range(150)]

    def worker(index: int) -> None:
        for message_id in ids:
            claim = ledgers[index].claim("consumer", message_id, LEASE)
            if claim.state == "claimed":
                with lock:
                    side_effects[message_id] += 1
                ledgers[index].complete(
                    "consumer", message_id, {"worker": index}, token=claim.token
                )

    run_threads(2, worker)
    assert side_effects == Counter({m: 1 for m in ids})
    ledgers[1].engine.dispose()


def _claim_in_process(url: str, message_id: str, lease_ms: int, start: Any, results: Any) -> None:
    engine = make_engine(url)
    start.wait()
    claim = Ledger(engine).claim("consumer", message_id, timedelta(milliseconds=lease_ms))
    results.put((claim.state, claim.taken_over))
    engine.dispose()


def test_ledger_two_processes_one_wins_and_one_takes_over_an_expired_lease(pg_url: str) -> None:
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(2), context.Queue()
    processes = [context.Process(target=_claim_in_process, args=(pg_url, "m-1", 30000, start, results))
                 for _ in range(2)]  # fmt: skip
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=30)
    outcomes = sorted(results.get(timeout=5)[0] for _ in range(2))
    assert outcomes == ["busy", "claimed"]

    engine = make_engine(pg_url)
    Ledger(engine).claim("consumer", "m-2", timedelta(milliseconds=20))  # this worker "crashes"
    time.sleep(0.05)
    start, results = context.Barrier(3), context.Queue()
    processes = [context.Process(target=_claim_in_process, args=(pg_url, "m-2", 30000, start, results))
                 for _ in range(3)]  # fmt: skip
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=30)
    outcomes = sorted(results.get(timeout=5) for _ in range(3))
    assert outcomes == [("busy", False), ("busy", False), ("claimed", True)]
    engine.dispose()


def test_idempotency_concurrent_requests_with_one_key(pg_engine: Engine) -> None:
    make_uow = units_of_work(pg_engine)
    states: list[str] = []

    def reserve(claim: KeyClaim) -> str:
        with make_uow() as uow:
            uow.idempotency.reserve(claim)
            try:
                uow.commit().result(10)
            except KeyAlreadyUsed as used:
                return used.found.state
        return "miss"

    claim = KeyClaim("city", "key-1", "h")
    run_threads(5, lambda _: states.append(reserve(claim)))
    assert sorted(states) == ["in_progress"] * 4 + ["miss"]
    with make_uow() as uow:
        uow.idempotency.answer(claim, StoredResponse(202, b"{}"))
        uow.commit().result(10)
    assert reserve(claim) == "hit"
    assert reserve(KeyClaim("city", "key-1", "other")) == "mismatch"


def test_the_unit_of_work_commits_through_the_pool_on_postgres(
    pg_engine: Engine, keystore: KeyStore
) -> None:
    """Concurrent syncs of one dossier from one status: one passes, the other is refused;
    a derived id stored by several units of work at once is stored once."""
    assert isinstance(commit_strategy(pg_engine), PooledCommit)
    make_uow = units_of_work(pg_engine)
    signer = EnvelopeSigner(keystore)
    code = "000.00.00.H26-261127-0001"
    with make_uow() as uow:
        uow.dossier_states.advance(code, DossierStatus.ACCEPTED, "m-0")
        uow.messages.add(make(signer, "m-0"), dossier_code=code, partner="portal")
        uow.commit().result(10)
    outcomes: list[str] = []

    def advance(index: int) -> None:
        # 2 -> 4 and 2 -> 3: both legal from 2; 4 -> 3 and 3 -> 4 are not
        status = DossierStatus.IN_PROCESS if index else DossierStatus.REFUSED
        with make_uow() as uow:
            uow.dossier_states.advance(code, status, f"m-{index + 1}")
            uow.messages.add(make(signer, f"m-{index + 1}"), dossier_code=code, partner="portal")
            try:
                uow.commit().result(10)
            except IllegalTransition:
                outcomes.append("refused")
                return
        outcomes.append("accepted")

    run_threads(2, advance)
    assert sorted(outcomes) == ["accepted", "refused"]
    assert current_status(pg_engine, code) in (DossierStatus.IN_PROCESS, DossierStatus.REFUSED)
    assert outbox_rows(pg_engine) == 2

    derived = make(signer, "derived-1")
    errors: list[BaseException] = []

    def store_derived(_: int) -> None:
        with make_uow() as uow:
            uow.messages.add(derived, dossier_code=None, partner="portal", keep_existing=True)
            try:
                uow.commit().result(10)
            except Conflict as error:  # pragma: no cover - reported below
                errors.append(error)

    run_threads(6, store_derived)  # the unique-key race: the losers run again and see it
    assert errors == [] and outbox_rows(pg_engine) == 3


def test_audit_is_append_only_on_postgres(pg_engine: Engine) -> None:
    trail = AuditTrail(pg_engine)
    trail.record("ops", "replay", "m-1", "portal was down", {"new": "m-2"})
    for statement in ("UPDATE audit SET reason = 'x'", "DELETE FROM audit"):
        with (
            pytest.raises(sa.exc.DatabaseError, match="append-only"),
            pg_engine.begin() as connection,
        ):
            connection.execute(sa.text(statement))
    assert [e.reason for e in trail.list()] == ["portal was down"]


def _fill(pg_engine: Engine, keystore: KeyStore) -> EvidenceLog:
    writer = EvidenceLog(pg_engine, keystore=keystore, encryption_key=AES_KEY, checkpoint_every=5,
                         chain_id="chain-a")  # fmt: skip
    other = EvidenceLog(pg_engine, keystore=keystore, checkpoint_every=5, chain_id="chain-b")
    for n in range(1, 13):
        writer.append(EvidenceEntry("out", "portal", b'{"n":%d}' % n, message_id=f"m-{n}",
                                    body_policy="encrypted" if n % 2 else "digest"))  # fmt: skip
        other.append(EvidenceEntry("in", "city", b"{}", message_id=f"x-{n}"))
    writer.close()
    other.close()
    return writer


def test_evidence_honest_log_verifies_on_postgres(pg_engine: Engine, keystore: KeyStore) -> None:
    _fill(pg_engine, keystore)
    report = verify(pg_engine, keystore, encryption_key=AES_KEY)
    assert report.ok, [str(p) for p in report.problems]
    assert (report.chains, report.records) == (2, 24)


def test_evidence_changed_byte_is_named_on_postgres(
    pg_engine: Engine, keystore: KeyStore, tamper: Callable[..., None]
) -> None:
    _fill(pg_engine, keystore)
    tamper("UPDATE evidence_records SET body_sha256 = overlay(body_sha256 placing 'f' from 10 for 1) "
           "WHERE chain_id = 'chain-a' AND seq = 8 AND substr(body_sha256, 10, 1) <> 'f'")  # fmt: skip
    first = verify(pg_engine, keystore).first
    assert first is not None and (first.reason, first.chain_id, first.seq) == (
        "altered",
        "chain-a",
        8,
    )


def test_evidence_deleted_record_is_named_on_postgres(
    pg_engine: Engine, keystore: KeyStore, tamper: Callable[..., None]
) -> None:
    _fill(pg_engine, keystore)
    tamper("DELETE FROM evidence_records WHERE chain_id = 'chain-b' AND seq = 4")
    first = verify(pg_engine, keystore).first
    assert first is not None and (first.reason, first.chain_id, first.seq) == (
        "missing",
        "chain-b",
        4,
    )


def test_evidence_tampered_checkpoint_is_named_on_postgres(
    pg_engine: Engine, keystore: KeyStore, tamper: Callable[..., None]
) -> None:
    _fill(pg_engine, keystore)
    with pg_engine.connect() as connection:
        checkpoint_id = connection.execute(
            sa.text("SELECT min(id) FROM evidence_checkpoints")
        ).scalar_one()
    tamper("UPDATE evidence_checkpoints SET payload = replace(payload, :a, :b) WHERE id = :i",
           a='"seq":', b='"seq":1', i=checkpoint_id)  # fmt: skip
    first = verify(pg_engine, keystore).first
    assert first is not None and (first.reason, first.checkpoint_id) == (
        "checkpoint_signature",
        checkpoint_id,
    )
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), pg_engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM evidence_records"))


def test_batched_store_throughput_on_postgres(pg_engine: Engine, keystore: KeyStore) -> None:
    store = MessageStore(pg_engine)
    signer = EnvelopeSigner(keystore)
    log = EvidenceLog(pg_engine, keystore=keystore, checkpoint_every=1000)
    envelopes = [
        make(signer, f"m-{n}", b'{"MaHoSo":"000.00.00.H26-241120-%04d"}' % n) for n in range(1000)
    ]
    started = time.perf_counter()
    for offset in range(0, 1000, 100):
        batch = envelopes[offset : offset + 100]
        store.accept_many([Acceptance(e, None, "portal") for e in batch])
        log.append_many([EvidenceEntry("in", "city", e.body, message_id=e.message_id, signature=e.jws)
                         for e in batch])  # fmt: skip
    elapsed = time.perf_counter() - started
    print(f"PostgreSQL: accept_many + evidence append_many: {1000 / elapsed:.0f} messages/s")
    assert outbox_rows(pg_engine) == 1000
    assert elapsed < 10


def test_ledger_overlapping_batches_from_two_workers_never_double_claim(pg_engine: Engine) -> None:
    ledger = Ledger(pg_engine)
    owners: Counter[str] = Counter()
    lock = threading.Lock()
    ids = [f"m-{n:03d}" for n in range(300)]

    def worker(index: int) -> None:
        mine = ids if index == 0 else list(reversed(ids))
        for offset in range(0, len(mine), 25):
            claims = ledger.claim_many("consumer", mine[offset : offset + 25], LEASE)
            won = {mid: c for mid, c in claims.items() if c.state == "claimed"}
            with lock:
                owners.update(won.keys())
            if won:
                token = next(iter(won.values())).token
                assert token is not None
                assert (
                    ledger.complete_many(
                        "consumer", {mid: {"w": index} for mid in won}, token=token
                    )
                    == []
                )

    run_threads(2, worker)
    assert owners == Counter({mid: 1 for mid in ids})


def _upgrade_in_process(url: str, start: Any) -> None:
    from gateway.store import upgrade

    start.wait()
    upgrade(url)


def test_processes_starting_together_migrate_one_at_a_time(postgres_url: str) -> None:
    import secrets

    schema = f"tthc_store_{secrets.token_hex(5)}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{postgres_url}?options=-csearch_path%3D{schema}"
    context = multiprocessing.get_context("fork")
    start = context.Barrier(3)
    processes = [context.Process(target=_upgrade_in_process, args=(url, start)) for _ in range(3)]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=60)
        assert [process.exitcode for process in processes] == [0, 0, 0]
        engine = make_engine(url)
        assert current_revision(engine) is not None
        engine.dispose()
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_idempotency_record_waits_for_a_concurrent_transaction(pg_engine: Engine) -> None:
    """Two transactions record one key: the second waits for the first, then finds it."""
    from gateway.store import idempotency as keys
    from gateway.store.db import write_tx
    from gateway.store.idempotency import KeyPolicy

    claim = KeyClaim("city", "k", "h")
    first_recorded = threading.Event()
    release = threading.Event()
    seen: list[str] = []

    def record(body: bytes) -> str:
        try:
            with write_tx(pg_engine) as connection:
                keys.record(connection, claim, StoredResponse(202, body), KeyPolicy())
                if body == b"1":
                    first_recorded.set()
                    release.wait(10)
        except KeyAlreadyUsed as used:
            return used.found.state
        return "miss"

    def first() -> None:
        seen.append(record(b"1"))

    def second() -> None:
        first_recorded.wait(10)
        seen.append(record(b"2"))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_recorded.wait(10)
    time.sleep(0.3)  # the second is now blocked on the first's uncommitted row
    assert seen == []
    release.set()
    for thread in threads:
        thread.join(10)
    assert seen == ["miss", "hit"]
    hit = IdempotencyRecords(pg_engine).lookup(claim)
    assert hit.response is not None and hit.response.body == b"1"
