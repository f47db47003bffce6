"""The admin API's message port answers exactly the contract's schemas."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from gateway.api.spec import load_served_spec
from gateway.domain.errors import Conflict, NotFound
from gateway.flows.ports import CallContext
from gateway.ops.message_port import OpsMessagePort
from gateway.testing.scenario import Scenario

CTX = CallContext(correlation_id="c-1", caller="operator", idempotency_key=None, client_ip=None)


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    spec = load_served_spec()
    components: dict[str, Any] = spec["components"]["schemas"]

    def plain(node: Any) -> Any:
        """OpenAPI 3.0 schema -> JSON Schema (resolve local refs, nullable -> null type)."""
        if isinstance(node, list):
            return [plain(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return plain(components[node["$ref"].rsplit("/", 1)[-1]])
        out = {k: plain(v) for k, v in node.items() if k not in ("nullable", "example")}
        if node.get("nullable"):
            out = {"anyOf": [out, {"type": "null"}]}
        return out

    return {name: plain(schema) for name, schema in components.items()}


def check(schemas: dict[str, Any], name: str, document: Any) -> None:
    jsonschema.validate(document, schemas[name])


def test_search_detail_replay_and_bulk_match_the_contract(
    scenario: Scenario, schemas: dict[str, Any]
) -> None:
    port = OpsMessagePort(scenario.ctx)
    scenario.partner.failing = "down"
    ids = scenario.submit(3)
    scenario.drain(until=lambda: len(scenario.ctx.transport.list_parked()) == 3)
    scenario.partner.failing = None

    page = port.search({"status": "parked", "partner": "portal"}, 2, 0, CTX)
    check(schemas, "MessagePage", page)
    assert page["total"] == 3 and len(page["items"]) == 2
    detail = port.detail(ids[0], CTX)
    check(schemas, "MessageDetail", detail)
    assert detail["replays"] == [] and detail["bodyBytes"] > 0
    assert any("attempt_failed" in e.get("detail", "") for e in detail["timeline"])

    accepted = port.replay(ids[0], "portal is back (INC-3)", CTX)
    check(schemas, "ReplayAccepted", accepted)
    assert accepted == {"messageId": ids[0], "replayOf": ids[0], "status": "replayed"}
    assert port.detail(ids[0], CTX)["status"] == "replayed"  # the same message, replayed
    with pytest.raises(Conflict, match="not parked"):
        port.replay(ids[0], "again please", CTX)
    with pytest.raises(NotFound):
        port.replay("00000000-0000-4000-8000-000000000000", "nothing", CTX)

    dry = port.bulk_replay(
        {"filter": {"type": "portal.dossier.sync"}, "dryRun": True, "reason": "check"}, CTX
    )
    check(schemas, "BulkReplayResult", dry)
    assert dry["matched"] == 2 and all(r["messageId"] is None for r in dry["replays"])
    done = port.bulk_replay({"filter": {}, "reason": "portal back", "limit": 1}, CTX)
    check(schemas, "BulkReplayResult", done)
    assert done["matched"] == 2 and len(done["replays"]) == 1
    assert {e.actor for e in scenario.ctx.audit.list(action="replay")} == {"api:operator"}

    scenario.drain(until=lambda: len(scenario.partner.received) == 2)
    status = port.status(accepted["messageId"], CTX)
    check(schemas, "MessageStatus", status)
    assert status["status"] == "delivered"
    assert sorted(scenario.partner.received.values()) == [1, 1]
