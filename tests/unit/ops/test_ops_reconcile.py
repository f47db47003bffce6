"""Store against queue: ``messages reconcile`` and the worker's periodic job (embedded/SQLite).

The same comparison runs on RabbitMQ + PostgreSQL in the chaos suite's integration tests.
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gateway.cli import app
from gateway.envelope import EnvelopeVerifier
from gateway.messaging.port import Delivery
from gateway.ops.reconcile import reconcile, reconcile_job
from gateway.testing.scenario import Scenario

runner = CliRunner()


def verifier(scenario: Scenario) -> EnvelopeVerifier:
    return EnvelopeVerifier(scenario.ctx.keystore)


def park_behind_the_stores_back(scenario: Scenario, message_id: str, reason: str) -> None:
    """What the broker's delivery limit does: the copy is parked, the store is not told."""
    envelope = scenario.ctx.store.get_envelope(message_id)
    assert envelope is not None
    delivery = Delivery(envelope, 20, f"x.{envelope.type}", envelope.type)
    scenario.ctx.transport.park(delivery, reason, "dead-lettered by the broker")


def test_a_consistent_store_and_queue_report_nothing(scenario: Scenario) -> None:
    scenario.partner.failing = "contract"
    ids = scenario.submit(2)
    scenario.drain(until=lambda: len(scenario.ctx.transport.list_parked()) == 2)
    report = reconcile(scenario.ctx.store, scenario.ctx.transport, verifier(scenario))
    assert report.consistent
    assert (report.parked_in_queue, report.parked_in_store) == (2, 2)
    assert sorted(ids) == sorted(scenario.ctx.store.parked_ids())


def test_a_copy_parked_without_the_store_is_found_and_fixed(scenario: Scenario) -> None:
    (message_id,) = scenario.submit(1)
    assert scenario.ctx.store.get(message_id).status == "published"  # type: ignore[union-attr]
    park_behind_the_stores_back(scenario, message_id, "delivery_limit")
    found = reconcile(scenario.ctx.store, scenario.ctx.transport, verifier(scenario))
    assert not found.consistent
    assert [(m.message_id, m.store_status, m.queue_reason) for m in found.mismatches] == [
        (message_id, "published", "delivery_limit")
    ]
    assert scenario.ctx.store.get(message_id).status == "published"  # type: ignore[union-attr]
    fixed = reconcile_job(scenario.ctx.store, scenario.ctx.transport, verifier(scenario))
    assert fixed.fixed == [message_id] and fixed.consistent
    view = scenario.ctx.store.get(message_id)
    assert view is not None and view.status == "parked"
    assert "delivery_limit" in (view.last_error or view.timeline[-1].detail or "")
    assert (
        reconcile(scenario.ctx.store, scenario.ctx.transport, verifier(scenario)).mismatches == []
    )


def test_a_store_parked_message_missing_from_the_queue_is_reported_not_changed(
    scenario: Scenario,
) -> None:
    scenario.partner.failing = "contract"
    (message_id,) = scenario.submit(1)
    scenario.drain(until=lambda: len(scenario.ctx.transport.list_parked()) == 1)
    scenario.ctx.transport.take_parked(message_id)  # gone from the queue, still parked in store
    report = reconcile(scenario.ctx.store, scenario.ctx.transport, verifier(scenario), fix=True)
    assert report.store_only == [message_id] and not report.consistent
    assert scenario.ctx.store.get(message_id).status == "parked"  # type: ignore[union-attr]


def test_a_parked_copy_unknown_to_the_store_is_reported(scenario: Scenario) -> None:
    envelope = scenario.ctx.signer.sign(
        message_id="m-forged-in-broker",
        type="portal.dossier.sync",
        recipient="portal",
        body=b"{}",
        correlation_id="c",
    )
    scenario.ctx.transport.park(
        Delivery(envelope, 1, "q", "portal.dossier.sync"), "unknown_kid", "x"
    )
    report = reconcile(scenario.ctx.store, scenario.ctx.transport, verifier(scenario), fix=True)
    assert report.unknown == ["m-forged-in-broker"] and report.fixed == []


def test_the_cli_exits_1_while_they_disagree_and_0_once_fixed(
    scenario: Scenario, cli_env: dict[str, str]
) -> None:
    (message_id,) = scenario.submit(1)
    park_behind_the_stores_back(scenario, message_id, "delivery_limit")
    result = runner.invoke(app, ["messages", "reconcile"], env=cli_env)
    assert result.exit_code == 1, result.output
    assert message_id in result.output and "NOT fixed" in result.output
    result = runner.invoke(app, ["messages", "reconcile", "--fix", "--json"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["fixed"] == [message_id]
    result = runner.invoke(app, ["messages", "reconcile"], env=cli_env)
    assert result.exit_code == 0 and "consistent" in result.output


def test_a_forged_copy_of_a_known_message_is_foreign_and_changes_nothing(
    scenario: Scenario,
) -> None:
    import dataclasses

    (message_id,) = scenario.submit(1)
    real = scenario.ctx.store.get_envelope(message_id)
    assert real is not None
    forged = dataclasses.replace(real, body=b'{"MaHoSo": "forged"}')
    scenario.ctx.transport.park(Delivery(forged, 1, "q", real.type), "bad_signature", "x")
    report = reconcile(scenario.ctx.store, scenario.ctx.transport, verifier(scenario), fix=True)
    assert report.foreign == [message_id] and report.fixed == []
    assert scenario.ctx.store.get(message_id).status == "published"  # type: ignore[union-attr]
