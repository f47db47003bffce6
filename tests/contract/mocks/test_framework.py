"""The mock framework: control API, faults, both transports, hardened XML, the server."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import requests
import responses

from mocks._testing import run_server
from mocks.framework import (
    FaultSpec,
    MockRequest,
    MockResponse,
    PartnerMock,
    XmlRejected,
    asgi_app,
    parse_xml,
    register_responses,
)
from mocks.server import build_app
from mocks.settings import MockSettings


class EchoMock(PartnerMock):
    name = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.route("GET", "/items/{item_id}", self.item)
        self.route("POST", "/echo", self.echo)

    def item(self, request: MockRequest) -> MockResponse:
        return MockResponse.json({"id": request.path_params["item_id"], "q": dict(request.query)})

    def echo(self, request: MockRequest) -> MockResponse:
        return MockResponse.json({"body": request.json(), "ct": request.header("Content-Type")})

    def state(self) -> dict[str, Any]:
        return {"things": 1}


def control(mock: PartnerMock, method: str, path: str, body: Any = None) -> MockResponse:
    raw = b"" if body is None else json.dumps(body).encode()
    return mock.handle(MockRequest(method, path, body=raw))


def test_routes_path_params_404_and_405() -> None:
    mock = EchoMock()
    answer = mock.handle(MockRequest("GET", "/items/42", query={"a": "1"}))
    assert answer.json_body() == {"id": "42", "q": {"a": "1"}}
    assert mock.handle(MockRequest("GET", "/nowhere")).status == 404
    assert mock.handle(MockRequest("DELETE", "/items/42")).status == 405


def test_control_api_records_state_and_reset() -> None:
    mock = EchoMock()
    mock.handle(MockRequest("POST", "/echo", headers={"content-type": "x"}, body=b'{"a": 1}'))
    recorded = control(mock, "GET", "/_mock/requests").json_body()["requests"]
    assert [(r["method"], r["path"], r["body"]) for r in recorded] == [
        ("POST", "/echo", '{"a": 1}')
    ]
    assert control(mock, "GET", "/_mock/state").json_body() == {"mock": "echo", "things": 1}
    control(mock, "POST", "/_mock/faults", {"route": "*", "status": 503})
    assert len(control(mock, "GET", "/_mock/faults").json_body()["faults"]) == 1
    assert control(mock, "POST", "/_mock/reset").status == 200
    assert control(mock, "GET", "/_mock/requests").json_body()["requests"] == []
    assert control(mock, "GET", "/_mock/faults").json_body()["faults"] == []
    assert control(mock, "GET", "/_mock/nothing").status == 404


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"route": "GET"}, "route"),
        ({"route": "FETCH /x"}, "route"),
        ({"latency": 5}, "unknown fault field(s): latency"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"error_rate": True}, "error_rate"),
        ({"status": 99}, "status"),
        ({"count": 0}, "count"),
        ({"count": "2"}, "count"),
        ({"timeout": "yes"}, "timeout"),
        ({"status": 500, "timeout": True}, "cannot be combined"),
        ([{"status": 500}, {"oversized_bytes": -1}], "oversized_bytes"),
        ("nope", "JSON object"),
    ],
)
def test_bad_fault_specs_get_a_clear_400(spec: Any, needle: str) -> None:
    mock = EchoMock()
    answer = control(mock, "POST", "/_mock/faults", spec)
    assert answer.status == 400
    assert needle in answer.json_body()["error"]
    assert control(mock, "GET", "/_mock/faults").json_body()["faults"] == []


def test_fault_not_json_is_refused() -> None:
    answer = EchoMock().handle(MockRequest("POST", "/_mock/faults", body=b"{"))
    assert answer.status == 400


def test_fault_count_route_and_rate() -> None:
    mock = EchoMock()
    control(mock, "POST", "/_mock/faults", {"route": "GET /items/1", "status": 502, "count": 2})
    statuses = [mock.handle(MockRequest("GET", "/items/1")).status for _ in range(3)]
    assert statuses == [502, 502, 200]
    assert mock.handle(MockRequest("GET", "/items/2")).status == 200
    control(mock, "POST", "/_mock/faults", {"route": "GET *", "error_rate": 0.0})
    assert all(mock.handle(MockRequest("GET", "/items/3")).status == 200 for _ in range(20))
    control(mock, "POST", "/_mock/reset")
    control(mock, "POST", "/_mock/faults", {"error_rate": 0.5})
    statuses = [mock.handle(MockRequest("GET", "/items/3")).status for _ in range(200)]
    assert 40 < statuses.count(500) < 160
    assert set(statuses) == {200, 500}
    recorded = mock.recorded
    assert recorded[-1]["fault"] is None or recorded[-1]["fault"]["error_rate"] == 0.5


def test_malformed_and_oversized_answers() -> None:
    mock = EchoMock()
    mock.add_fault(FaultSpec(malformed=True, count=1))
    with pytest.raises(ValueError):
        mock.handle(MockRequest("GET", "/items/1")).json_body()
    mock.add_fault(FaultSpec(oversized_bytes=100_000, count=1))
    answer = mock.handle(MockRequest("GET", "/items/1"))
    assert len(answer.body) == 100_000
    assert answer.json_body()["id"] == "1"


def test_in_process_transport_latency_and_timeouts() -> None:
    mock = EchoMock()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        register_responses(rsps, "http://partner.test/echo-mock", mock)
        answer = requests.post("http://partner.test/echo-mock/echo", json={"x": "ý"}, timeout=5)
        assert answer.json() == {"body": {"x": "ý"}, "ct": "application/json"}
        mock.add_fault(FaultSpec(latency_ms=150, count=1))
        started = time.monotonic()
        assert requests.get("http://partner.test/echo-mock/items/7", timeout=5).status_code == 200
        assert time.monotonic() - started >= 0.15
        mock.add_fault(FaultSpec(latency_ms=5000, count=1))
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get("http://partner.test/echo-mock/items/7", timeout=0.1)
        mock.add_fault(FaultSpec(timeout=True, count=1))
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get("http://partner.test/echo-mock/items/7", timeout=30)
        assert requests.get("http://partner.test/echo-mock/items/7", timeout=5).status_code == 200


def test_http_transport_timeout_latency_and_control() -> None:
    mock = EchoMock()
    with run_server(asgi_app(mock, hang_seconds=1.0)) as base:
        with httpx.Client(base_url=base, timeout=5) as client:
            assert client.get("/items/5").json()["id"] == "5"
            client.post(
                "/_mock/faults", json={"route": "GET /items/5", "timeout": True, "count": 1}
            )
            with pytest.raises(httpx.ReadTimeout):
                client.get("/items/5", timeout=0.3)
            client.post("/_mock/faults", json={"latency_ms": 200, "count": 1})
            started = time.monotonic()
            assert client.get("/items/5").status_code == 200
            assert time.monotonic() - started >= 0.2
            bad = client.post("/_mock/faults", json={"route": 5})
            assert bad.status_code == 400 and "route" in bad.json()["error"]
            paths = [r["path"] for r in client.get("/_mock/requests").json()["requests"]]
            assert paths[0] == "/items/5" and "/_mock/faults" not in paths


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
        b'<!DOCTYPE a [<!ENTITY l "lol"><!ENTITY l2 "&l;&l;&l;">]><a>&l2;</a>',
        b'<!doctype a SYSTEM "http://example.invalid/a.dtd"><a/>',
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'.encode(
            "utf-16"
        ),
        b"<a><b></a>",
        b"",
    ],
)
def test_parse_xml_refuses_dtds_entities_and_garbage(document: bytes) -> None:
    with pytest.raises(XmlRejected):
        parse_xml(document)


def test_parse_xml_size_cap_and_good_document() -> None:
    assert parse_xml(b"<a><b>1</b></a>").findtext("b") == "1"
    with pytest.raises(XmlRejected, match="limit"):
        parse_xml(b"<a>" + b"x" * 2000 + b"</a>", max_bytes=1000)


def test_server_mounts_available_mocks_and_lists_them() -> None:
    app = build_app(MockSettings())
    mounted = set(app.state.mocks)
    assert {"portal", "payment"} <= mounted
    assert mounted <= {"portal", "payment", "population", "warehouse", "city", "tsa"}
    with run_server(app) as base:
        index = httpx.get(base + "/", timeout=5).json()
        assert set(index["mocks"]) == mounted
        state = httpx.get(base + "/portal/_mock/state", timeout=5).json()
        assert state["mock"] == "portal"
