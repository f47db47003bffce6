"""The ops must-shows on RabbitMQ + PostgreSQL (the production pair)."""

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
from sqlalchemy import func, select

from gateway.flows.ports import CallContext
from gateway.keys import KeyStore
from gateway.ops.bundle import export_bundle
from gateway.ops.bundle_verify import verify_bundle
from gateway.ops.message_port import OpsMessagePort
from gateway.ops.messages import MessageFilter, show_message
from gateway.ops.replay import ReplayRequest, replay_messages, select_parked
from gateway.store.schema import audit
from gateway.testing.scenario import Scenario

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-c", "from gateway.cli import main; main()"]


def parked(scenario: Scenario) -> set[str]:
    return {p.envelope.message_id for p in scenario.ctx.transport.list_parked(10_000)}


def park_all(scenario: Scenario, count: int) -> list[str]:
    scenario.partner.failing = "down"
    ids = scenario.submit(count)
    scenario.drain(idle=1.0, until=lambda: parked(scenario) == set(ids))
    assert parked(scenario) == set(ids)
    scenario.partner.failing = None
    return ids


def test_parked_by_a_failing_partner_replayed_by_filter_exactly_once(scenario: Scenario) -> None:
    ids = park_all(scenario, 5)
    ctx = scenario.ctx
    port = OpsMessagePort(ctx)
    call = CallContext(correlation_id="c", caller="operator", idempotency_key=None, client_ip=None)
    page = port.search({"status": "parked", "error": "UPSTREAM"}, 2, 0, call)
    assert page["total"] == 5 and len(page["items"]) == 2
    assert port.detail(ids[0], call)["replays"] == []
    selection = select_parked(
        ctx.store, ctx.transport, flt=MessageFilter.from_pairs(["partner=portal", "since=1h"])
    )
    request = ReplayRequest("os:oncall", "portal back up (INC-9)")
    results = replay_messages(ctx.store, ctx.audit, ctx.transport, ctx.signer, selection, request)
    assert [r.outcome for r in results] == ["replayed"] * 5
    assert parked(scenario) == set()
    scenario.drain(idle=1.0, until=lambda: len(scenario.partner.received) == 5)
    assert len(scenario.partner.received) == 5 and set(scenario.partner.received.values()) == {1}
    story = show_message(ctx.store, ctx.audit, ids[0], actor="os:oncall")
    events = [e.event for e in story.view.timeline]
    assert events[-4:] == ["parked", "replayed", "attempt_started", "delivered"]
    assert story.view.status == "delivered"  # the same message id, delivered by the replay
    assert len(ctx.audit.list(action="replay")) == 5


def replay_audits(scenario: Scenario) -> int:
    with scenario.ctx.engine.connect() as connection:
        query = select(func.count()).select_from(audit).where(audit.c.action == "replay")
        return int(connection.execute(query).scalar_one())


def test_bulk_replay_killed_with_sigkill_then_run_again(
    scenario: Scenario, cli_env: dict[str, str]
) -> None:
    count = 24
    ids = park_all(scenario, count)
    command = [*CLI, "replay", "--all", "--rate", "12/s", "--reason", "portal back (INC-10)"]
    process = subprocess.Popen(
        command, env=cli_env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while replay_audits(scenario) < 6 and time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    left = parked(scenario)
    assert 0 < len(left) < count
    for message_id in ids:
        view = scenario.ctx.store.get(message_id)
        assert message_id in left or (view and "replayed" in [e.event for e in view.timeline])
    scenario.drain(idle=1.0)
    again = subprocess.run(
        command, env=cli_env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert parked(scenario) == set()
    scenario.drain(idle=1.0, until=lambda: len(scenario.partner.received) == count)
    assert len(scenario.partner.received) == count
    assert set(scenario.partner.received.values()) == {1}


def test_bundle_from_postgres_verifies_offline_and_tampering_is_named(
    scenario: Scenario, keystore: KeyStore, tmp_path: Path
) -> None:
    ids = scenario.submit(3)
    scenario.drain(idle=1.0, until=lambda: len(scenario.partner.received) == 3)
    scenario.evidence.close()
    view = scenario.ctx.store.get(ids[2])
    assert view is not None and view.dossier_code
    result = export_bundle(
        scenario.ctx.engine, keystore, scenario.ctx.audit,
        actor="os:auditor", reason="inspection", dossier_code=view.dossier_code,
    )  # fmt: skip
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "bundle.json").write_bytes(result.data)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(alone)}
    ok = subprocess.run([*CLI, "log", "verify-bundle", "bundle.json"], cwd=alone, env=env,
                        capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    data = json.loads(result.data)
    record = next(r for r in data["records"] if r["subject"])
    record["message_id"] = ids[0]
    report = verify_bundle(data)
    assert report.problems[0].startswith(f"record {record['chain_id']}#{record['seq']}: ")
    assert scenario.ctx.audit.list(action="export")[0].detail["bundle_sha256"] == result.sha256
    shutil.rmtree(alone)
