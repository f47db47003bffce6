"""Evidence anchoring on the real PostgreSQL: TRUNCATE, UPDATE and DELETE of the evidence
tables are refused (migration 0005); several writers checkpoint into one chain."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.keys import KeyStore
from gateway.store import EvidenceEntry, EvidenceLog, verify
from gateway.store.anchors import FileWitness
from gateway.store.schema import APPEND_ONLY_TABLES, EVIDENCE_TABLES

pytestmark = pytest.mark.integration


def fill(engine: Engine, keystore: KeyStore, witness: FileWitness) -> EvidenceLog:
    writer = EvidenceLog(engine, keystore=keystore, checkpoint_every=3, witness=witness)
    for n in range(7):  # checkpoints after #3, #6 and at close (#7)
        writer.append(EvidenceEntry("out", "portal", b'{"n":%d}' % n))
    writer.close()
    with engine.begin() as connection:  # a token row, so that row triggers have a row to refuse
        connection.execute(
            sa.text("INSERT INTO evidence_timestamps VALUES (1, :h, now(), now(), 'tsa', 'x')"),
            {"h": "0" * 64},
        )
    return writer


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_truncate_of_an_evidence_table_is_refused_on_postgres(
    pg_engine: Engine, keystore: KeyStore, tmp_path: Path, table: str
) -> None:
    fill(pg_engine, keystore, FileWitness(tmp_path / "anchors"))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), pg_engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {table}"))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), pg_engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {table} CASCADE"))
    report = verify(pg_engine, keystore, witness=FileWitness(tmp_path / "anchors"))
    assert report.ok and report.records == 7


@pytest.mark.parametrize("table", EVIDENCE_TABLES)
def test_update_and_delete_of_every_evidence_table_are_refused_on_postgres(
    pg_engine: Engine, keystore: KeyStore, tmp_path: Path, table: str
) -> None:
    fill(pg_engine, keystore, FileWitness(tmp_path / "anchors"))
    with pg_engine.connect() as connection:
        column = next(iter(sa.inspect(connection).get_pk_constraint(table)["constrained_columns"]))
    for statement in (f"UPDATE {table} SET {column} = {column}", f"DELETE FROM {table}"):
        with (
            pytest.raises(sa.exc.DatabaseError, match="append-only"),
            pg_engine.begin() as connection,
        ):
            connection.execute(sa.text(statement))


def test_a_cut_tail_is_detected_by_the_anchors_on_postgres(
    pg_engine: Engine, keystore: KeyStore, tmp_path: Path, tamper: object
) -> None:
    witness = FileWitness(tmp_path / "anchors")
    writer = fill(pg_engine, keystore, witness)
    assert callable(tamper)
    tamper("DELETE FROM evidence_records WHERE chain_id = :c AND seq > 3", c=writer.chain_id)
    tamper("DELETE FROM evidence_checkpoints WHERE id > (SELECT min(id) FROM evidence_checkpoints)")
    assert verify(pg_engine, keystore).ok  # the database alone agrees with itself
    report = verify(pg_engine, keystore, witness=witness)
    assert {p.reason for p in report.problems} == {"anchor_missing"}


def test_writers_in_parallel_build_one_checkpoint_chain_on_postgres(
    pg_engine: Engine, keystore: KeyStore, tmp_path: Path
) -> None:
    witness = FileWitness(tmp_path / "anchors")
    writers = [
        EvidenceLog(pg_engine, keystore=keystore, checkpoint_every=5, witness=witness)
        for _ in range(4)
    ]

    def run(writer: EvidenceLog) -> None:
        for n in range(40):
            writer.append(EvidenceEntry("in", "city", b'{"n":%d}' % n))
        writer.close()

    threads = [threading.Thread(target=run, args=(w,)) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    report = verify(pg_engine, keystore, witness=witness)
    assert report.ok, [str(p) for p in report.problems]
    assert (
        report.records == 160 and report.checkpoints >= 32 and report.anchors == report.checkpoints
    )
    assert report.uncovered == () and report.unanchored == ()
