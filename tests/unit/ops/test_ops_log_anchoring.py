"""``log verify`` with anchors and time-stamps, and bundles carrying RFC 3161 tokens.

The CLI runs with the demo configuration against this test's store: the anchors are
where the configuration says (``<var_dir>/anchors``), the TSA certificate bundle too
(``<var_dir>/tsa/tsa.pem``), so what is checked is what an operator's run checks.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from gateway.cli import app
from gateway.evidence_tsa import HttpTimeStamper
from gateway.keys import KeyStore
from gateway.ops.bundle import build_bundle
from gateway.ops.bundle_verify import verify_bundle
from gateway.store.anchors import FileWitness
from gateway.store.evidence import EvidenceEntry, EvidenceLog
from mocks.framework import register_responses
from mocks.settings import MockSettings
from mocks.tsa.app import TsaMock
from mocks.tsa.certs import create_identity, save

runner = CliRunner()
TSA_URL = "http://tsa.test/tsa"


def log_verify(env: dict[str, str]) -> tuple[int, str]:
    result = runner.invoke(app, ["log", "verify"], env=env)
    return result.exit_code, result.output


def tamper(engine: Engine, *statements: str) -> None:
    """An attacker with the database file: triggers dropped, then the statements."""
    with engine.begin() as connection:
        names = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        ).scalars()
        for name in list(names):
            connection.execute(text(f'DROP TRIGGER "{name}"'))
        for statement in statements:
            connection.execute(text(statement))


@pytest.fixture
def var_dir(cli_env: dict[str, str]) -> Path:
    return Path(cli_env["TTHC_VAR_DIR"])


@pytest.fixture
def stamper(var_dir: Path) -> Iterator[HttpTimeStamper]:
    """The mock TSA, its certificate bundle where the demo configuration looks for it."""
    identity = create_identity()
    save(identity, var_dir / "tsa")
    mock = TsaMock(MockSettings(tsa_directory=str(var_dir / "tsa")), identity=identity)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        register_responses(rsps, TSA_URL, mock)
        yield HttpTimeStamper(TSA_URL, var_dir / "tsa" / "tsa.pem")


def test_log_verify_names_the_unchecked_tail_then_fails_on_a_cut_tail(
    engine: Engine, keystore: KeyStore, cli_env: dict[str, str], var_dir: Path
) -> None:
    writer = EvidenceLog(engine, keystore=keystore, checkpoint_every=4, chain_id="chain-a",
                         witness=FileWitness(var_dir / "anchors"))  # fmt: skip
    for n in range(1, 11):
        writer.append(EvidenceEntry("out", "portal", b'{"n":%d}' % n))
    code, out = log_verify(cli_env)  # checkpoints after #4 and #8; #9, #10 not yet
    assert code == 0, out
    assert "10 records in 1 chains, 2 checkpoints, 2 anchors" in out
    assert "not yet checkpointed: chain chain-a: 2 records (#9..#10)" in out
    assert "OK: every record, checkpoint, anchor and time-stamp verifies" in out

    tamper(engine, "DELETE FROM evidence_records WHERE seq > 4",
           "DELETE FROM evidence_checkpoints WHERE id > 1")  # fmt: skip
    code, out = log_verify(cli_env)
    assert code == 1, out
    assert "FIRST FAILURE: checkpoint 2: anchor_missing" in out
    assert "absent from the database" in out


def test_log_verify_fails_when_the_evidence_tables_were_emptied(
    engine: Engine, keystore: KeyStore, cli_env: dict[str, str], var_dir: Path
) -> None:
    writer = EvidenceLog(engine, keystore=keystore, witness=FileWitness(var_dir / "anchors"))
    writer.append(EvidenceEntry("in", "city", b"{}"))
    writer.close()
    assert log_verify(cli_env)[0] == 0
    tamper(engine, "DELETE FROM evidence_records", "DELETE FROM evidence_checkpoints",
           "DELETE FROM evidence_chains", "DELETE FROM evidence_checkpoint_heads")  # fmt: skip
    code, out = log_verify(cli_env)
    assert code == 1 and "0 records in 0 chains" in out and "anchor_missing" in out, out


def test_log_verify_checks_time_stamps_offline(
    engine: Engine, keystore: KeyStore, cli_env: dict[str, str], var_dir: Path,
    stamper: HttpTimeStamper,
) -> None:  # fmt: skip
    writer = EvidenceLog(engine, keystore=keystore, checkpoint_every=3,
                         witness=FileWitness(var_dir / "anchors"), stamper=stamper)  # fmt: skip
    for n in range(1, 5):
        writer.append(EvidenceEntry("out", "portal", b'{"n":%d}' % n))
    code, out = log_verify(cli_env)  # checkpoint 1 (#3) not yet stamped: the periodic job does
    assert code == 0 and "0 time-stamps" in out, out
    assert f"not yet time-stamped: chain {writer.chain_id}: 4 records (#1..#4)" in out
    writer.close()  # final checkpoint, anchored and stamped
    code, out = log_verify(cli_env)
    assert code == 0 and "1 time-stamps (newest " in out and "not yet" not in out, out
    with engine.connect() as connection:
        token = bytearray(
            connection.execute(text("SELECT token FROM evidence_timestamps")).scalar_one()
        )
    token[-10] ^= 0x01  # one byte of the TSA's signature
    tamper(engine, f"UPDATE evidence_timestamps SET token = X'{bytes(token).hex()}'")
    code, out = log_verify(cli_env)
    assert code == 1 and "timestamp_invalid" in out, out


@pytest.fixture
def stamped_bundle(
    engine: Engine, keystore: KeyStore, stamper: HttpTimeStamper, var_dir: Path
) -> dict[str, Any]:
    writer = EvidenceLog(engine, keystore=keystore, checkpoint_every=3, stamper=stamper)
    for n in range(1, 8):
        writer.append(EvidenceEntry("out", "portal", b'{"n":%d}' % n, dossier_code=f"D-{n % 3}"))
    writer.close()  # checkpoints after #3 and #6 are not stamped; the final one (#7) is
    return build_bundle(engine, keystore, dossier_code="D-1",
                        tsa_certificates=(var_dir / "tsa" / "tsa.pem").read_bytes())  # fmt: skip


def test_a_bundle_carries_the_tokens_and_the_run_of_checkpoints_to_them(
    stamped_bundle: dict[str, Any], var_dir: Path
) -> None:
    bundle = stamped_bundle
    # subjects #1, #4, #7: the checkpoint covering #7 is the last, stamped one; the
    # chosen checkpoint is it, so only one checkpoint and its token are carried
    assert [c["id"] for c in bundle["checkpoints"]] == [3]
    assert [t["checkpoint_id"] for t in bundle["timestamps"]] == [3]
    report = verify_bundle(copy.deepcopy(bundle))
    assert report.ok, report.problems
    assert report.tokens == 1 and len(report.stamped) == 3 and report.unstamped == []
    trusted = (var_dir / "tsa" / "tsa.pem").read_bytes()
    assert verify_bundle(copy.deepcopy(bundle), trusted_tsa=trusted).ok


def test_a_chosen_unstamped_checkpoint_is_dated_through_the_checkpoint_chain(
    engine: Engine, keystore: KeyStore, stamper: HttpTimeStamper, var_dir: Path
) -> None:
    writer = EvidenceLog(engine, keystore=keystore, checkpoint_every=3, stamper=stamper)
    for n in range(1, 8):
        writer.append(EvidenceEntry("out", "portal", b"{}", dossier_code="D-1" if n == 2 else "x"))
    writer.close()
    bundle = build_bundle(engine, keystore, dossier_code="D-1",
                          tsa_certificates=(var_dir / "tsa" / "tsa.pem").read_bytes())  # fmt: skip
    assert [c["id"] for c in bundle["checkpoints"]] == [1, 2, 3]  # chosen #1, run to #3
    report = verify_bundle(copy.deepcopy(bundle))
    assert report.ok and report.stamped and "token on checkpoint 3" in report.stamped[0]
    broken = copy.deepcopy(bundle)
    del broken["checkpoints"][1]  # the run no longer links checkpoint 1 to the token
    report = verify_bundle(broken)
    assert (
        report.ok
        and report.stamped == []
        and report.unstamped == ["record " + report.covered[0][7:]]
    )


def test_a_bundle_with_an_altered_or_foreign_token_is_not_verified(
    stamped_bundle: dict[str, Any], tmp_path: Path
) -> None:
    altered = copy.deepcopy(stamped_bundle)
    token = bytearray(base64.b64decode(altered["timestamps"][0]["token"]))
    token[-10] ^= 0x01
    altered["timestamps"][0]["token"] = base64.b64encode(bytes(token)).decode()
    assert any("does not verify" in p for p in verify_bundle(altered).problems)
    stranger = create_identity()
    report = verify_bundle(copy.deepcopy(stamped_bundle), trusted_tsa=stranger.bundle_pem())
    assert not report.ok and "time-stamp on checkpoint 3: does not verify" in report.problems[0]


def test_verify_bundle_cli_reports_time_stamps(
    stamped_bundle: dict[str, Any], tmp_path: Path, var_dir: Path
) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(stamped_bundle))
    result = runner.invoke(
        app, ["log", "verify-bundle", str(path), "--tsa", str(var_dir / "tsa" / "tsa.pem")]
    )
    assert result.exit_code == 0, result.output
    assert "time-stamped: record" in result.output and "3 time-stamped, 0 problems" in result.output
