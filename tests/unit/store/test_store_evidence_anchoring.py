"""An evidence log that cannot be quietly cut: chained checkpoints, anchors, sealing, tails.

Each test states the attack it shows being caught (or the honest case passing). The
attacker has the database (SQLite: the file; triggers dropped first), not the anchor
file and not the TSA's key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from joserfc import jws
from sqlalchemy import Engine, select, text

from gateway.evidence_tsa import HttpTimeStamper
from gateway.keys import KeyStore, jws_registry
from gateway.store import EvidenceEntry, EvidenceLog, verify
from gateway.store.anchors import FileWitness
from gateway.store.evidence_format import GENESIS, checkpoint_hash, checkpoint_payload
from gateway.store.schema import EVIDENCE_TABLES, evidence_checkpoints
from gateway.store.timestamps import TsaTrust

Tamper = Callable[..., None]
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def entry(n: int) -> EvidenceEntry:
    return EvidenceEntry("out", "portal", b'{"n":%d}' % n, message_id=f"m-{n}")


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def checkpoint_rows(engine: Engine) -> list[tuple[int, dict[str, object], str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                evidence_checkpoints.c.id,
                evidence_checkpoints.c.payload,
                evidence_checkpoints.c.jws,
            ).order_by(evidence_checkpoints.c.id)
        ).all()
    return [(int(r.id), json.loads(r.payload), r.jws) for r in rows]


@pytest.fixture
def log(engine: Engine, keystore: KeyStore, witness: FileWitness) -> EvidenceLog:
    """Ten records; checkpoints after #4 and #8 and at close (#10), all anchored."""
    writer = EvidenceLog(
        engine, keystore=keystore, checkpoint_every=4, chain_id="chain-a", witness=witness
    )
    for n in range(1, 11):
        writer.append(entry(n))
    writer.close()
    return writer


def reasons(engine: Engine, keystore: KeyStore, witness: FileWitness | None) -> list[tuple]:
    report = verify(engine, keystore, witness=witness)
    return [(p.reason, p.chain_id, p.seq, p.checkpoint_id) for p in report.problems]


def test_an_honest_anchored_log_of_two_writers_verifies(
    engine: Engine, keystore: KeyStore, witness: FileWitness
) -> None:
    a = EvidenceLog(engine, keystore=keystore, checkpoint_every=3, witness=witness)
    b = EvidenceLog(engine, keystore=keystore, checkpoint_every=4, witness=witness)
    for n in range(1, 10):
        a.append(entry(n))
        b.append(entry(100 + n))
    a.close()
    b.close()
    report = verify(engine, keystore, witness=witness)
    assert report.ok, [str(p) for p in report.problems]
    assert report.anchors_checked and report.anchors == report.checkpoints >= 5
    assert report.uncovered == () and report.unanchored == ()


def test_each_checkpoint_signs_the_previous_checkpoints_hash_across_writers(
    engine: Engine, keystore: KeyStore
) -> None:
    a = EvidenceLog(engine, keystore=keystore, checkpoint_every=2, chain_id="chain-a")
    b = EvidenceLog(engine, keystore=keystore, checkpoint_every=3, chain_id="chain-b")
    for n in range(1, 7):
        a.append(entry(n))
        b.append(entry(n))
    rows = checkpoint_rows(engine)
    assert {str(p["writer"]) for _, p, _ in rows} == {"chain-a", "chain-b"}
    previous = GENESIS
    for _, payload, compact in rows:
        assert payload["v"] == 2 and payload["prev"] == previous and payload["sealed"] == []
        previous = checkpoint_hash(compact)


def test_one_changed_byte_in_a_record_fails(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, witness: FileWitness, tamper: Tamper
) -> None:
    assert verify(engine, keystore, witness=witness).ok
    tamper("UPDATE evidence_records SET body_sha256 = 'f' || substr(body_sha256, 2) "
           "WHERE seq = 6 AND substr(body_sha256, 1, 1) <> 'f'")  # fmt: skip
    assert reasons(engine, keystore, witness)[0] == ("altered", "chain-a", 6, None)


def test_one_deleted_record_fails(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, witness: FileWitness, tamper: Tamper
) -> None:
    tamper("DELETE FROM evidence_records WHERE seq = 3")
    assert reasons(engine, keystore, witness)[0] == ("missing", "chain-a", 3, None)


def test_the_tail_cut_together_with_its_checkpoints_is_detected_by_the_anchors(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, witness: FileWitness, tamper: Tamper
) -> None:
    assert [i for i, _, _ in checkpoint_rows(engine)] == [1, 2, 3]  # heads #4, #8, #10
    tamper("DELETE FROM evidence_records WHERE seq > 4")
    tamper("DELETE FROM evidence_checkpoints WHERE id > 1")
    # the database alone is consistent again: that is the attack
    assert verify(engine, keystore).ok
    found = reasons(engine, keystore, witness)
    assert found == [("anchor_missing", None, None, 2), ("anchor_missing", None, None, 3)]
    report = verify(engine, keystore, witness=witness)
    assert "absent from the database" in str(report.first)


def test_a_rewritten_checkpoint_is_detected_by_the_anchors(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, witness: FileWitness, tamper: Tamper
) -> None:
    """Even with the signing key: cut #9..#10 and re-sign the last checkpoint over #8."""
    rows = checkpoint_rows(engine)
    with engine.connect() as connection:
        head8 = connection.execute(
            text("SELECT hash FROM evidence_records WHERE seq = 8")
        ).scalar_one()
    key = keystore.active()
    payload = checkpoint_payload(
        "chain-a", T0, {"chain-a": (8, head8)}, prev=checkpoint_hash(rows[1][2])
    )
    forged = jws.serialize_compact(
        {"alg": key.algorithm, "kid": key.kid, "typ": "tthc-checkpoint"}, payload, key.key,
        registry=jws_registry([key.algorithm]),
    )  # fmt: skip
    tamper("DELETE FROM evidence_records WHERE seq > 8")
    tamper("UPDATE evidence_checkpoints SET payload = :p, jws = :j WHERE id = 3",
           p=payload.decode(), j=forged)  # fmt: skip
    assert verify(engine, keystore).ok  # signatures, links and heads all agree
    assert reasons(engine, keystore, witness) == [("anchor_mismatch", None, None, 3)]


def test_a_checkpoint_deleted_in_the_middle_breaks_the_checkpoint_chain(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, tamper: Tamper
) -> None:
    tamper("DELETE FROM evidence_checkpoints WHERE id = 2")
    assert reasons(engine, keystore, None) == [("checkpoint_chain", None, None, 3)]


def test_emptied_evidence_tables_on_sqlite_are_detected_by_the_anchors(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, witness: FileWitness, tamper: Tamper
) -> None:
    for table in EVIDENCE_TABLES:
        if table != "evidence_timestamps":  # no TSA here: nothing in it
            tamper(f"DELETE FROM {table}")
    empty = verify(engine, keystore)
    assert empty.ok and empty.records == 0  # nothing left to contradict itself
    found = reasons(engine, keystore, witness)
    assert found == [("anchor_missing", None, None, i) for i in (1, 2, 3)]


def test_an_edited_anchor_file_is_named(
    log: EvidenceLog, engine: Engine, keystore: KeyStore, witness: FileWitness
) -> None:
    lines = witness.path.read_bytes().splitlines(keepends=True)
    del lines[1]  # someone with access to the witness removed a line
    witness.path.write_bytes(b"".join(lines))
    found = reasons(engine, keystore, witness)
    assert found == [("anchor_broken", None, None, 3)]


def test_anchor_lines_are_self_describing_chained_and_only_appended(
    engine: Engine, keystore: KeyStore, witness: FileWitness
) -> None:
    writer = EvidenceLog(engine, keystore=keystore, checkpoint_every=2, witness=witness)
    writer.append_many([entry(1), entry(2)])
    first = witness.path.read_bytes()
    inode = witness.path.stat().st_ino
    writer.append_many([entry(3), entry(4)])
    data = witness.path.read_bytes()
    assert data.startswith(first) and witness.path.stat().st_ino == inode
    lines = [json.loads(line) for line in data.splitlines()]
    assert [line["checkpoint_id"] for line in lines] == [1, 2]
    assert lines[0]["prev"] == GENESIS
    import hashlib

    assert lines[1]["prev"] == hashlib.sha256(data.splitlines()[0]).hexdigest()
    assert set(lines[0]) == {"v", "type", "checkpoint_id", "checkpoint_hash", "checkpoint_at",
                             "writer", "anchored_at", "prev"}  # fmt: skip
    assert lines[1]["checkpoint_hash"] == checkpoint_hash(checkpoint_rows(engine)[1][2])


def test_a_failed_anchor_is_retried_and_never_stops_writing(
    engine: Engine, keystore: KeyStore, tmp_path: Path
) -> None:
    blocker = tmp_path / "anchors"
    blocker.write_text("a file where the directory should be")
    witness = FileWitness(blocker)
    writer = EvidenceLog(engine, keystore=keystore, checkpoint_every=2, witness=witness)
    writer.append_many([entry(1), entry(2)])  # checkpoint written, anchoring fails
    assert len(checkpoint_rows(engine)) == 1
    blocker.unlink()
    writer.maybe_checkpoint()  # the periodic job retries it
    assert [json.loads(x)["checkpoint_id"] for x in witness.path.read_bytes().splitlines()] == [1]
    assert verify(engine, keystore, witness=witness).ok


def test_records_after_the_last_checkpoint_are_named_per_chain(
    engine: Engine, keystore: KeyStore, witness: FileWitness
) -> None:
    a = EvidenceLog(engine, keystore=keystore, checkpoint_every=4, chain_id="chain-a",
                    witness=witness)  # fmt: skip
    b = EvidenceLog(engine, keystore=keystore, checkpoint_every=100, chain_id="chain-b")
    a.append_many([entry(n) for n in range(1, 5)])  # checkpoint covers a#1..#4 (and nothing of b)
    a.append_many([entry(n) for n in range(5, 8)])
    b.append_many([entry(1), entry(2)])
    report = verify(engine, keystore, witness=witness)
    assert report.ok
    assert [str(t) for t in report.uncovered] == [
        "chain chain-a: 3 records (#5..#7)",
        "chain chain-b: 2 records (#1..#2)",
    ]


def test_a_chain_whose_writer_died_is_sealed_after_the_grace_period_whatever_its_age(
    engine: Engine, keystore: KeyStore, witness: FileWitness
) -> None:
    dead = EvidenceLog(engine, keystore=keystore, checkpoint_every=1000, chain_id="dead-1")
    old = datetime(2001, 1, 1, tzinfo=UTC)
    dead.append_many([EvidenceEntry("in", "city", b"{}", at=old) for _ in range(3)])
    # ...the process is killed: no close(), no final checkpoint
    clock = Clock()
    live = EvidenceLog(engine, keystore=keystore, chain_id="live-1", witness=witness, clock=clock,
                       checkpoint_interval=timedelta(seconds=60),
                       seal_after=timedelta(seconds=300))  # fmt: skip
    assert [str(t) for t in verify(engine, keystore).uncovered] == [
        "chain dead-1: 3 records (#1..#3)"
    ]
    assert live.maybe_checkpoint() is None  # first sight of the open chain
    clock.advance(240)
    assert live.maybe_checkpoint() is None  # within the grace period
    clock.advance(61)
    sealing = live.maybe_checkpoint()
    assert sealing is not None
    ((_, payload, _),) = [row for row in checkpoint_rows(engine) if row[0] == sealing]
    assert payload["sealed"] == ["dead-1"] and payload["heads"]["dead-1"]["seq"] == 3
    report = verify(engine, keystore, witness=witness)
    assert report.ok and report.uncovered == ()
    clock.advance(600)
    assert live.maybe_checkpoint() is None  # sealed once, not again


def test_a_chain_that_keeps_moving_or_checkpoints_itself_is_not_sealed(
    engine: Engine, keystore: KeyStore
) -> None:
    clock = Clock()
    busy = EvidenceLog(engine, keystore=keystore, checkpoint_every=1000, chain_id="busy-1")
    tidy = EvidenceLog(engine, keystore=keystore, checkpoint_every=2, chain_id="tidy-1")
    watcher = EvidenceLog(engine, keystore=keystore, chain_id="watch-1", clock=clock,
                          seal_after=timedelta(seconds=300))  # fmt: skip
    tidy.append_many([entry(1), entry(2)])  # covered by its own checkpoint
    for n in range(8):
        busy.append(entry(n))  # a new head every time the watcher looks
        assert watcher.maybe_checkpoint() is None
        clock.advance(100)
    payloads = [p for _, p, _ in checkpoint_rows(engine)]
    assert all(p["sealed"] == [] for p in payloads)


def test_a_tsa_that_is_down_delays_the_token_never_the_evidence(
    engine: Engine, keystore: KeyStore, witness: FileWitness, stamper: HttpTimeStamper,
    tsa_mock: object, tsa_trust: TsaTrust,
) -> None:  # fmt: skip
    from mocks.framework import FaultSpec, PartnerMock

    assert isinstance(tsa_mock, PartnerMock)
    tsa_mock.add_fault(FaultSpec(route="POST /", status=503))
    clock = Clock()
    writer = EvidenceLog(engine, keystore=keystore, checkpoint_every=3, witness=witness,
                         stamper=stamper, clock=clock, stamp_retry=timedelta(seconds=60))  # fmt: skip
    writer.append_many([entry(n) for n in range(1, 4)])  # a checkpoint, anchored
    assert writer.stamp_pending() is None  # the TSA answered 503
    writer.append_many([entry(n) for n in range(4, 7)])  # writing goes on
    tried = len(tsa_mock.recorded)
    clock.advance(30)
    assert writer.stamp_pending() is None and len(tsa_mock.recorded) == tried  # backing off
    report = verify(engine, keystore, witness=witness, tsa_trust=tsa_trust)
    assert report.ok and report.stamps == 0 and report.anchors == 2
    assert [str(t) for t in report.unstamped] == [f"chain {writer.chain_id}: 6 records (#1..#6)"]
    tsa_mock.reset()  # the TSA is back
    clock.advance(31)
    assert writer.stamp_pending() == 2  # the newest checkpoint: it dates the first too
    report = verify(engine, keystore, witness=witness, tsa_trust=tsa_trust)
    assert report.ok and report.stamps == 1 and report.unstamped == ()
    assert report.last_stamp is not None


def test_another_writers_checkpoint_is_stamped_only_when_it_did_not_stamp_it(
    engine: Engine, keystore: KeyStore, stamper: HttpTimeStamper
) -> None:
    clock = Clock()
    api = EvidenceLog(engine, keystore=keystore, checkpoint_every=2, clock=clock)  # no TSA
    worker = EvidenceLog(engine, keystore=keystore, stamper=stamper, clock=clock)
    api.append_many([entry(1), entry(2)])
    assert worker.stamp_pending() is None  # the API process's own, fresh
    clock.advance(20)
    assert worker.stamp_pending() == 1


def test_with_one_anchor_file_per_host_verify_reads_them_all(
    engine: Engine, keystore: KeyStore, tmp_path: Path, tamper: Tamper
) -> None:
    host_a, host_b = FileWitness(tmp_path / "a"), FileWitness(tmp_path / "b")
    a = EvidenceLog(engine, keystore=keystore, checkpoint_every=2, chain_id="a", witness=host_a)
    b = EvidenceLog(engine, keystore=keystore, checkpoint_every=2, chain_id="b", witness=host_b)
    a.append_many([entry(1), entry(2)])  # checkpoint 1, anchored on host a
    b.append_many([entry(1), entry(2)])  # checkpoint 2, anchored on host b
    tamper("DELETE FROM evidence_records WHERE chain_id = 'b'")
    tamper("DELETE FROM evidence_checkpoints WHERE id = 2")
    assert verify(engine, keystore, witness=host_a).ok  # host a never saw checkpoint 2
    both = verify(engine, keystore, witness=[host_a, host_b])
    assert [(p.reason, p.checkpoint_id) for p in both.problems] == [("anchor_missing", 2)]


@pytest.mark.parametrize("env", ["demo", "default", "production"])
def test_anchoring_is_on_in_every_configuration(env: str, tmp_path: Path) -> None:
    import shutil

    from gateway.bootstrap import evidence_stamper, evidence_witness
    from gateway.config import load_settings

    config = tmp_path / "config"
    shutil.copytree(Path(__file__).resolve().parents[3] / "config", config)
    if env == "production":
        shutil.copy(config / "production.example.yaml", config / "production.yaml")
    settings = load_settings(config, environ={"TTHC_ENV": env})
    witness = evidence_witness(settings)
    assert isinstance(witness, FileWitness)
    expected = {"production": Path("/var/lib/tthc-gateway/anchors")}.get(env, Path("var/anchors"))
    assert witness.directory == expected
    stamper = evidence_stamper(settings)
    assert (stamper is not None) == (env == "demo")  # the mock TSA; production sets its own


def test_evidence_settings_are_checked() -> None:
    from pydantic import ValidationError

    from gateway.settings_model import EvidenceSettings

    with pytest.raises(ValidationError, match="seal_after_seconds must be more"):
        EvidenceSettings(checkpoint_every_seconds=600, seal_after_seconds=300)
    with pytest.raises(ValidationError, match="http"):
        EvidenceSettings(tsa_url="ftp://tsa.example")
