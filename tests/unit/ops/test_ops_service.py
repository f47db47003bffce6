"""The admin API's facade: same behaviour as the CLI, bounded replays, JSON answers."""

from __future__ import annotations

import json

import pytest

from gateway.domain.errors import InvalidInput
from gateway.ops.messages import MessageFilter
from gateway.ops.service import OpsService
from gateway.ops.testing import Scenario


def test_service_lists_shows_replays_exports_and_verifies(scenario: Scenario) -> None:
    service = OpsService(scenario.ctx, max_replay=2)
    scenario.partner.failing = "down"
    ids = scenario.submit(3)
    scenario.drain(until=lambda: len(scenario.ctx.transport.list_parked()) == 3)
    scenario.partner.failing = None
    listed = service.list_messages(MessageFilter(status="parked"))
    assert {m["message_id"] for m in listed} == set(ids)
    shown = service.show_message(ids[0], actor="operator")
    assert shown["status"] == "parked" and not shown["body_revealed"]
    json.dumps(shown)  # JSON-ready

    with pytest.raises(InvalidInput, match="more than 2"):
        service.replay(actor="operator", reason="x", flt=MessageFilter())
    answer = service.replay(actor="operator", reason="INC-1", message_ids=ids[:2])
    assert answer["counts"] == {"replayed": 2}
    scenario.drain(until=lambda: len(scenario.partner.received) == 2)
    assert sorted(scenario.partner.received.values()) == [1, 1]
    assert {e.actor for e in scenario.ctx.audit.list(action="replay")} == {"operator"}

    scenario.evidence.close()
    data = service.export_bundle(
        actor="operator", reason="check", message_id=answer["results"][0]["replay_id"]
    )
    assert json.loads(data)["subject"]["message_id"] == answer["results"][0]["replay_id"]
    assert service.verify_log()["ok"] is True
