"""Evidence log on SQLite: honest logs verify; each kind of tampering is named."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text

from gateway.domain.errors import ConfigError, InvalidInput
from gateway.keys import KeyStore
from gateway.store import EvidenceEntry, EvidenceLog, verify
from gateway.store.schema import evidence_checkpoints, evidence_records

AES_KEY = bytes(range(32))
CITIZEN = "Nguyễn Văn An 001203001234".encode()
Tamper = Callable[..., None]


def entry(n: int, policy: str = "digest") -> EvidenceEntry:
    return EvidenceEntry(
        direction="out" if n % 2 else "in",
        partner="portal",
        body=b'{"n":%d,"who":"' % n + CITIZEN + b'"}',
        message_id=f"m-{n}",
        correlation_id=f"c-{n}",
        dossier_code="000.00.00.H26-241120-0001",
        signature=f"hdr..sig{n}",
        body_policy=policy,  # type: ignore[arg-type]
    )


@pytest.fixture
def log(engine: Engine, keystore: KeyStore) -> EvidenceLog:
    return EvidenceLog(
        engine, keystore=keystore, encryption_key=AES_KEY, checkpoint_every=4, chain_id="chain-a"
    )


def fill(log: EvidenceLog, count: int = 10) -> None:
    policies = ["digest", "encrypted", "none"]
    for n in range(1, count + 1):
        log.append(entry(n, policies[n % 3]))
    log.close()


def problem(engine: Engine, keystore: KeyStore) -> tuple[str, str | None, int | None, int | None]:
    report = verify(engine, keystore, encryption_key=AES_KEY)
    assert not report.ok and report.first is not None
    first = report.first
    return first.reason, first.chain_id, first.seq, first.checkpoint_id


def test_an_honest_log_of_several_writers_verifies(engine: Engine, keystore: KeyStore) -> None:
    writer_a = EvidenceLog(engine, keystore=keystore, encryption_key=AES_KEY, checkpoint_every=3)
    writer_b = EvidenceLog(engine, keystore=keystore, encryption_key=AES_KEY, checkpoint_every=5)
    assert writer_a.chain_id != writer_b.chain_id
    for n in range(1, 12):
        writer_a.append(entry(n, "encrypted"))
        writer_b.append_many([entry(100 + n), entry(200 + n, "none")])
    writer_a.close()
    writer_b.close()
    report = verify(engine, keystore, encryption_key=AES_KEY)
    assert report.ok, [str(p) for p in report.problems]
    assert (report.chains, report.records) == (2, 33)
    assert report.checkpoints >= 3 + 4
    assert verify(engine, keystore).ok  # without the AES key too


def test_records_link_in_sequence_and_receipts_say_where(log: EvidenceLog, engine: Engine) -> None:
    receipts = log.append_many([entry(1), entry(2), entry(3)])
    assert [(r.chain_id, r.seq) for r in receipts] == [
        ("chain-a", 1),
        ("chain-a", 2),
        ("chain-a", 3),
    ]
    assert log.head == (3, receipts[-1].hash)
    with engine.connect() as connection:
        rows = connection.execute(select(evidence_records).order_by(evidence_records.c.seq)).all()
    assert rows[0].prev_hash == "0" * 64
    assert [row.prev_hash for row in rows[1:]] == [row.hash for row in rows[:-1]]


def test_body_policies_store_digest_ciphertext_or_clear(log: EvidenceLog, db_path: Path) -> None:
    log.append(entry(1, "digest"))
    log.append(entry(2, "encrypted"))
    log.close()
    stored = db_path.read_bytes() + Path(f"{db_path}-wal").read_bytes()
    assert "Nguyễn".encode() not in stored and b"001203001234" not in stored
    log.append(entry(3, "none"))
    stored = db_path.read_bytes() + Path(f"{db_path}-wal").read_bytes()
    assert b"001203001234" in stored  # 'none' keeps the body in clear, by choice of the caller


def test_bad_policy_and_key_configuration_are_refused(engine: Engine, keystore: KeyStore) -> None:
    without_key = EvidenceLog(engine, keystore=keystore)
    with pytest.raises(InvalidInput, match="encryption_key"):
        without_key.append(entry(1, "encrypted"))
    with pytest.raises(InvalidInput, match="body_policy"):
        without_key.append(entry(1, "zip"))
    with pytest.raises(ConfigError, match="32 bytes"):
        EvidenceLog(engine, keystore=keystore, encryption_key=b"short")
    assert without_key.head == (0, "0" * 64)


def test_checkpoints_every_n_records_every_t_seconds_and_at_close(
    engine: Engine, keystore: KeyStore
) -> None:
    now = [datetime(2026, 11, 27, 4, 0, tzinfo=UTC)]
    log = EvidenceLog(
        engine, keystore=keystore, checkpoint_every=5, checkpoint_interval=timedelta(seconds=60),
        clock=lambda: now[0],
    )  # fmt: skip

    def checkpoints() -> int:
        with engine.connect() as connection:
            return len(connection.execute(select(evidence_checkpoints.c.id)).all())

    log.append_many([entry(n) for n in range(1, 11)])
    assert checkpoints() == 1  # ten records at once: one checkpoint after the batch
    log.append(entry(11))
    assert log.maybe_checkpoint() is None and checkpoints() == 1
    now[0] += timedelta(seconds=61)
    assert log.maybe_checkpoint() is not None and checkpoints() == 2
    assert log.maybe_checkpoint() is None  # nothing new
    log.append(entry(12))
    assert log.close() is not None and checkpoints() == 3
    assert log.close() is None


def test_a_checkpoint_covers_the_heads_of_other_active_chains(
    engine: Engine, keystore: KeyStore
) -> None:
    writer_a = EvidenceLog(engine, keystore=keystore, checkpoint_every=1000, chain_id="chain-a")
    writer_b = EvidenceLog(engine, keystore=keystore, checkpoint_every=1000, chain_id="chain-b")
    writer_a.append_many([entry(1), entry(2)])
    writer_b.append(entry(3))
    writer_b.checkpoint()
    with engine.connect() as connection:
        payload = json.loads(
            connection.execute(select(evidence_checkpoints.c.payload)).scalar_one()
        )
    assert payload["writer"] == "chain-b"
    assert {chain: head["seq"] for chain, head in payload["heads"].items()} == {
        "chain-a": 2,
        "chain-b": 1,
    }


@pytest.mark.parametrize(
    ("column", "value"),
    [("partner", "'payment'"), ("message_id", "'m-999'"), ("direction", "'out'"),
     ("body_sha256", "'" + "ab" * 32 + "'"), ("signature", "'forged..sig'"),
     ("at", "'2026-01-01 00:00:00.000000'"), ("dossier_code", "NULL")],
)  # fmt: skip
def test_one_changed_field_names_that_record(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, tamper: Tamper, column: str, value: str
) -> None:
    fill(log)
    tamper(f"UPDATE evidence_records SET {column} = {value} WHERE seq = 6")
    assert problem(engine, keystore) == ("altered", "chain-a", 6, None)


def test_one_changed_byte_of_a_stored_ciphertext_names_that_record(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, tamper: Tamper
) -> None:
    fill(log)  # seq 5 is encrypted (5 % 3 == 2 -> 'none'; 4 % 3 == 1 -> 'encrypted')
    with engine.connect() as connection:
        blob = bytearray(
            connection.execute(
                text("SELECT body_blob FROM evidence_records WHERE seq = 4")
            ).scalar_one()
        )
    blob[20] ^= 0x01
    tamper("UPDATE evidence_records SET body_blob = :blob WHERE seq = 4", blob=bytes(blob))
    assert problem(engine, keystore) == ("altered", "chain-a", 4, None)


def test_a_record_rewritten_with_a_recomputed_hash_is_named(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, tamper: Tamper
) -> None:
    fill(log)
    from gateway.store.evidence_format import record_hash

    with engine.connect() as connection:
        row = (
            connection.execute(text("SELECT * FROM evidence_records WHERE seq = 3"))
            .mappings()
            .one()
        )
    fields: dict[str, Any] = {k: row[k] for k in row.keys() if k != "hash"}
    fields["partner"] = "payment"
    fields["at"] = datetime.fromisoformat(str(row["at"])).replace(tzinfo=UTC)
    new_hash = record_hash(**fields)
    tamper("UPDATE evidence_records SET partner = 'payment', hash = :h WHERE seq = 3", h=new_hash)
    assert problem(engine, keystore) == ("link_broken", "chain-a", 3, None)


def test_a_deleted_record_is_named(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, tamper: Tamper
) -> None:
    fill(log)
    tamper("DELETE FROM evidence_records WHERE seq = 7")
    assert problem(engine, keystore) == ("missing", "chain-a", 7, None)


def test_the_first_record_deleted_is_named(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, tamper: Tamper
) -> None:
    fill(log)
    tamper("DELETE FROM evidence_records WHERE seq = 1")
    assert problem(engine, keystore) == ("missing", "chain-a", 1, None)


def test_records_deleted_from_the_tail_are_named_by_the_checkpoint(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, tamper: Tamper
) -> None:
    fill(log)  # 10 records, close() checkpointed the head #10
    tamper("DELETE FROM evidence_records WHERE seq >= 9")
    reason, chain, seq, checkpoint_id = problem(engine, keystore)
    assert (reason, chain, seq) == ("checkpoint_mismatch", "chain-a", 9)
    assert checkpoint_id is not None


def test_reordered_records_are_detected(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, tamper: Tamper
) -> None:
    fill(log)
    tamper("UPDATE evidence_records SET seq = -seq WHERE seq IN (4, 5)")
    tamper("UPDATE evidence_records SET seq = 5 WHERE seq = -4")
    tamper("UPDATE evidence_records SET seq = 4 WHERE seq = -5")
    reason, chain, seq, _ = problem(engine, keystore)
    assert (reason, chain, seq) == ("altered", "chain-a", 4)


def test_a_tampered_checkpoint_is_named(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, tamper: Tamper
) -> None:
    fill(log)
    with engine.connect() as connection:
        first_id, payload = connection.execute(
            select(evidence_checkpoints.c.id, evidence_checkpoints.c.payload).order_by(
                evidence_checkpoints.c.id
            )
        ).first()  # type: ignore[misc]
    forged = payload.replace('"seq":4', '"seq":3')
    tamper("UPDATE evidence_checkpoints SET payload = :p WHERE id = :i", p=forged, i=first_id)
    assert problem(engine, keystore) == ("checkpoint_signature", None, None, first_id)


def test_a_checkpoint_with_a_broken_signature_or_unknown_key_is_named(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, tamper: Tamper, tmp_path: Path
) -> None:
    fill(log)
    tamper(
        "UPDATE evidence_checkpoints SET jws = substr(jws, 1, length(jws) - 6) || 'AAAAAA' WHERE id = 2"
    )
    assert problem(engine, keystore) == ("checkpoint_signature", None, None, 2)
    stranger = KeyStore.ensure(tmp_path / "stranger")
    reasons = {(p.reason, p.checkpoint_id) for p in verify(engine, stranger).problems}
    assert ("checkpoint_signature", 1) in reasons


def test_a_checkpoint_that_does_not_match_its_chain_is_named(
    engine: Engine, keystore: KeyStore, tamper: Tamper
) -> None:
    # A checkpoint row signed with the real key over a head the chain never had.
    writer = EvidenceLog(engine, keystore=keystore, checkpoint_every=1000, chain_id="chain-a")
    writer.append_many([entry(1), entry(2)])
    writer._head = "f" * 64  # the in-memory head disagrees with what was stored
    checkpoint_id = writer.checkpoint()
    report = verify(engine, keystore)
    assert report.first is not None
    assert (report.first.reason, report.first.seq, report.first.checkpoint_id) == (
        "checkpoint_mismatch", 2, checkpoint_id,
    )  # fmt: skip


def test_a_failed_insert_leaves_no_gap(
    log: EvidenceLog, engine: Engine, keystore: KeyStore
) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TRIGGER fail_one BEFORE INSERT ON evidence_records WHEN NEW.partner = 'boom' "
                 "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        )  # fmt: skip
    log.append(entry(1))
    with pytest.raises(Exception, match="disk full"):
        log.append(EvidenceEntry("out", "boom", b"{}"))
    log.append(entry(2))
    log.close()
    assert log.head[0] == 2
    assert verify(engine, keystore).ok


def test_batched_appends_are_fast(engine: Engine, keystore: KeyStore) -> None:
    log = EvidenceLog(engine, keystore=keystore, encryption_key=AES_KEY, checkpoint_every=1000)
    started = time.perf_counter()
    for batch in range(10):
        log.append_many([entry(batch * 100 + n, "encrypted") for n in range(100)])
    elapsed = time.perf_counter() - started
    print(f"evidence append_many: {1000 / elapsed:.0f} records/s on SQLite")
    started = time.perf_counter()
    report = verify(engine, keystore, encryption_key=AES_KEY)
    print(f"evidence verify: {report.records / (time.perf_counter() - started):.0f} records/s")
    assert report.ok and report.records == 1000
    assert elapsed < 5


text_or_none = st.one_of(st.none(), st.text(max_size=40))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["in", "out"]),
            st.text(min_size=1, max_size=20),
            st.binary(max_size=300),
            text_or_none,
            text_or_none,
            st.sampled_from(["digest", "encrypted", "none"]),
            st.datetimes(
                timezones=st.just(UTC),
                min_value=datetime(2000, 1, 1),
                max_value=datetime(2100, 1, 1),
            ),
        ),
        min_size=1,
        max_size=8,
    ),
    victim=st.integers(min_value=0),
)
def test_any_entries_round_trip_and_any_changed_partner_is_named(
    engine: Engine, keystore: KeyStore, tamper: Tamper, rows: list[Any], victim: int
) -> None:
    with engine.begin() as connection:  # hypothesis reuses the database between examples
        connection.execute(text("DROP TRIGGER IF EXISTS evidence_records_no_delete"))
        connection.execute(text("DELETE FROM evidence_records"))
        connection.execute(text("DROP TRIGGER IF EXISTS evidence_checkpoints_no_delete"))
        connection.execute(text("DELETE FROM evidence_checkpoints"))
    log = EvidenceLog(engine, keystore=keystore, encryption_key=AES_KEY, checkpoint_every=3)
    log.append_many(
        [EvidenceEntry(d, partner, body, message_id=mid, dossier_code=code, body_policy=policy, at=at)  # type: ignore[arg-type]
         for d, partner, body, mid, code, policy, at in rows]
    )  # fmt: skip
    log.close()
    assert verify(engine, keystore, encryption_key=AES_KEY).ok
    seq = victim % len(rows) + 1
    tamper("UPDATE evidence_records SET partner = partner || 'x' WHERE chain_id = :c AND seq = :s",
           c=log.chain_id, s=seq)  # fmt: skip
    first = verify(engine, keystore, encryption_key=AES_KEY).first
    assert first is not None and (first.reason, first.seq) == ("altered", seq)
