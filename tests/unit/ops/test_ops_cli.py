"""The operations CLI end to end: list/show, replay (also killed with SIGKILL), log."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from gateway.cli import app
from gateway.ops import bundle_verify
from gateway.store.schema import audit
from gateway.testing.partners import CITIZEN
from gateway.testing.scenario import Scenario

REPO = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-c", "from gateway.cli import main; main()"]
runner = CliRunner()


def invoke(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


def parked(scenario: Scenario) -> set[str]:
    return {p.envelope.message_id for p in scenario.ctx.transport.list_parked(1000)}


def test_list_and_show(scenario: Scenario, cli_env: dict[str, str]) -> None:
    scenario.partner.failing = "down"
    ids = scenario.submit(2)
    scenario.drain(until=lambda: parked(scenario) == set(ids))
    code, out = invoke(cli_env, "messages", "list", "--status", "parked", "--json")
    assert code == 0, out
    lines = [json.loads(line) for line in out.splitlines()]
    assert {line["message_id"] for line in lines} == set(ids)
    assert all("upstream_unavailable" in line["last_error"] for line in lines)
    code, out = invoke(cli_env, "messages", "list", "--since", "1h")
    assert code == 0 and "parked" in out
    code, out = invoke(cli_env, "messages", "show", ids[0])
    assert code == 0 and "attempt_failed" in out and "parked" in out
    assert CITIZEN["SoGiayToChuHoSo"] not in out and "personal data masked" in out
    code, out = invoke(cli_env, "messages", "show", ids[0], "--reveal")
    assert code == 2 and "--reason" in out
    code, out = invoke(cli_env, "messages", "show", ids[0], "--reveal", "--reason", "t-1", "--json")
    assert code == 0 and json.loads(out)["body"]["SoGiayToChuHoSo"] == CITIZEN["SoGiayToChuHoSo"]
    assert scenario.ctx.audit.list(action="reveal")[0].actor.startswith("os:")
    code, out = invoke(cli_env, "messages", "show", "nope")
    assert code == 1 and "not found" in out
    code, out = invoke(cli_env, "messages", "list", "--since", "yesterday")
    assert code == 2 and "since" in out


def test_replay_needs_a_reason_and_a_selection(scenario: Scenario, cli_env: dict[str, str]) -> None:
    assert invoke(cli_env, "replay", "--all")[0] == 2
    assert invoke(cli_env, "replay", "--reason", "x")[0] == 2
    code, out = invoke(cli_env, "replay", "--filter", "colour=red", "--reason", "x")
    assert code == 2 and "colour" in out
    code, out = invoke(cli_env, "replay", "--all", "--dry-run")
    assert code == 0 and "nothing selected" in out


def replay_audits(scenario: Scenario) -> int:
    with scenario.ctx.engine.connect() as connection:
        query = select(func.count()).select_from(audit).where(audit.c.action == "replay")
        return int(connection.execute(query).scalar_one())


def test_bulk_replay_killed_with_sigkill_then_run_again(
    scenario: Scenario, cli_env: dict[str, str]
) -> None:
    count = 30
    scenario.partner.failing = "down"
    ids = scenario.submit(count)
    scenario.drain(until=lambda: parked(scenario) == set(ids))
    assert parked(scenario) == set(ids)
    scenario.partner.failing = None
    command = [*CLI, "replay", "--filter", "type=portal.dossier.sync", "--rate", "15/s",
               "--reason", "portal back (INC-7)"]  # fmt: skip
    process = subprocess.Popen(
        command, env=cli_env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while replay_audits(scenario) < 8 and time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    left = parked(scenario)
    assert 0 < len(left) < count, "the kill should land halfway"
    for message_id in ids:  # every message is still parked or was replayed (audited)
        view = scenario.ctx.store.get(message_id)
        assert message_id in left or (view and "replayed" in [e.event for e in view.timeline])
    scenario.drain()  # deliver what was replayed before the kill

    again = subprocess.run(
        command, env=cli_env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert parked(scenario) == set()
    scenario.drain(until=lambda: len(scenario.partner.received) == count)
    assert len(scenario.partner.received) == count
    assert set(scenario.partner.received.values()) == {1}, "a dossier was delivered twice"
    assert {e.target for e in scenario.ctx.audit.list(action="replay", limit=1000)} == {
        f"message:{i}" for i in ids
    }


def test_bulk_replay_interrupted_with_ctrl_c_says_what_was_done(
    scenario: Scenario, cli_env: dict[str, str]
) -> None:
    count = 20
    scenario.partner.failing = "down"
    ids = scenario.submit(count)
    scenario.drain(until=lambda: parked(scenario) == set(ids))
    command = [*CLI, "replay", "--all", "--rate", "10/s", "--reason", "INC-8"]
    process = subprocess.Popen(command, env=cli_env, cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while replay_audits(scenario) < 3 and time.monotonic() < deadline:
        assert process.poll() is None
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, out + err
    assert "interrupted: every message not listed as replayed is still parked" in err
    said = {line.split(":")[0] for line in out.splitlines() if line.endswith(": replayed")}
    left = parked(scenario)
    assert said and 0 < len(left) < count
    assert not said & left  # what it reported replayed is no longer parked
    for message_id in ids:
        view = scenario.ctx.store.get(message_id)
        assert message_id in left or (view and "replayed" in [e.event for e in view.timeline])


def test_log_verify_export_and_offline_verify_bundle(
    scenario: Scenario, cli_env: dict[str, str], tmp_path: Path
) -> None:
    ids = scenario.submit(3)
    scenario.drain(until=lambda: len(scenario.partner.received) == 3)
    scenario.evidence.close()
    code, out = invoke(cli_env, "log", "verify")
    assert code == 0 and "OK" in out, out
    view = scenario.ctx.store.get(ids[0])
    assert view is not None and view.dossier_code
    bundle = tmp_path / "out" / "bundle.json"
    code, out = invoke(cli_env, "log", "export", "--dossier", view.dossier_code,
                       "--out", str(bundle), "--reason", "audit 2026-11")  # fmt: skip
    assert code == 0 and "sha256" in out, out
    assert scenario.ctx.audit.list(action="export")[0].target == f"dossier:{view.dossier_code}"

    # a machine holding only the bundle: empty directory, no configuration, no keys
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(bundle, alone / "bundle.json")
    bare_env = {"PATH": os.environ.get("PATH", ""), "HOME": str(alone)}
    honest = subprocess.run([*CLI, "log", "verify-bundle", "bundle.json"], cwd=alone, env=bare_env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert "OK: 1 subject records, 1 covered" in honest.stdout
    assert sorted(p.name for p in alone.iterdir()) == ["bundle.json"]
    # the standalone verifier file alone (what a third party is handed) says the same
    shutil.copy(bundle_verify.__file__, alone / "bundle_verify.py")
    script = subprocess.run([sys.executable, "-I", "bundle_verify.py", "bundle.json"], cwd=alone,
                            env=bare_env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert script.returncode == 0 and "OK" in script.stdout, script.stdout + script.stderr

    data = json.loads((alone / "bundle.json").read_text())
    subject = next(r for r in data["records"] if r["subject"])
    subject["at"] = subject["at"].replace(":", ";", 1)
    (alone / "bundle.json").write_text(json.dumps(data))
    tampered = subprocess.run([*CLI, "log", "verify-bundle", "bundle.json"], cwd=alone,
                              env=bare_env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert tampered.returncode == 1
    name = f"record {subject['chain_id']}#{subject['seq']}"
    assert f"FAIL: {name}: content does not match its hash (altered)" in tampered.stderr

    # the database itself tampered: log verify names the record
    with scenario.ctx.engine.begin() as connection:
        for trigger in list(
            connection.execute(
                text("SELECT name FROM sqlite_master WHERE type='trigger'")
            ).scalars()
        ):
            connection.execute(text(f'DROP TRIGGER "{trigger}"'))
        connection.execute(
            text("UPDATE evidence_records SET partner='x' WHERE chain_id=:c AND seq=:s"),
            {"c": subject["chain_id"], "s": subject["seq"]},
        )
    code, out = invoke(cli_env, "log", "verify")
    assert code == 1 and f"FIRST FAILURE: {name}: altered" in out, out


@pytest.mark.parametrize("args", [["--dossier", "a", "--message", "b"], []])
def test_export_needs_exactly_one_subject(
    cli_env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    code, out = invoke(cli_env, "log", "export", "--out", str(tmp_path / "b.json"), *args)
    assert code == 2 and "exactly one" in out
