"""API-key authentication and scopes, for every operation of the contract that uses ApiKey."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_fakes import (
    CITY_KEY,
    LIMITED_KEY,
    OPS_KEY,
    PORT_METHODS,
    FakeBackend,
    api_key_operations,
    concrete_path,
    request_example,
    success_example,
)
from starlette.testclient import TestClient

import gateway.api.security as security
from gateway.api.security import KeyRing

OPERATIONS = [
    pytest.param(path, method, operation, id=f"{method.upper()} {path}")
    for path, method, operation in api_key_operations()
]


def _key_for(operation: dict[str, Any]) -> tuple[str, str]:
    """(a key with the scopes, a valid key without them)."""
    if operation["x-scopes"] == ["ops"]:
        return OPS_KEY, CITY_KEY
    if operation["x-scopes"] == ["citizens"]:
        return CITY_KEY, OPS_KEY
    return CITY_KEY, LIMITED_KEY


def _call(
    client: TestClient, path: str, method: str, operation: dict[str, Any], headers: dict[str, str]
) -> Any:
    body = request_example(operation)
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    return client.request(method.upper(), concrete_path(path, operation), **kwargs)


def test_every_non_public_operation_is_covered() -> None:
    assert len(OPERATIONS) == 16


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_no_key_is_401(
    client: TestClient, backend: FakeBackend, path: str, method: str, operation: dict[str, Any]
) -> None:
    response = _call(client, path, method, operation, {})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthenticated"
    assert backend.calls == []


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_wrong_key_is_401_with_the_same_answer(
    client: TestClient, backend: FakeBackend, path: str, method: str, operation: dict[str, Any]
) -> None:
    missing = _call(client, path, method, operation, {}).json()
    wrong = _call(client, path, method, operation, {"X-API-Key": "demo-city-key-x"})
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == missing["detail"]
    assert {k: v for k, v in wrong.json().items() if k != "correlationId"} == {
        k: v for k, v in missing.items() if k != "correlationId"
    }
    assert backend.calls == []


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_key_without_the_scope_is_403(
    client: TestClient, backend: FakeBackend, path: str, method: str, operation: dict[str, Any]
) -> None:
    _, other = _key_for(operation)
    response = _call(client, path, method, operation, {"X-API-Key": other})
    assert response.status_code == 403
    problem = response.json()
    assert problem["code"] == "forbidden"
    assert all(scope in problem["detail"] for scope in operation["x-scopes"])
    assert backend.calls == []


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_key_with_the_scope_succeeds(
    client: TestClient, backend: FakeBackend, path: str, method: str, operation: dict[str, Any]
) -> None:
    key, _ = _key_for(operation)
    response = _call(client, path, method, operation, {"X-API-Key": key})
    expected_status, expected_body = success_example(operation)
    assert response.status_code == expected_status, response.text
    short = operation["operationId"].removeprefix("gateway.api.handlers.")
    if short not in PORT_METHODS:  # a flow function's answer: its own ids and times
        assert response.json().keys() <= expected_body.keys() | {"foundOnPortal", "checkedAt"}
        assert len(backend.calls) == 1
        return
    if isinstance(expected_body, bytes):
        assert response.content == expected_body
        assert response.headers["content-type"] == "application/pdf"
    else:
        assert response.json() == expected_body
    ((name, _args, ctx),) = backend.calls
    group, method_name = PORT_METHODS[short]
    assert name == f"{group}.{method_name}"
    assert ctx.caller == ("operator" if key == OPS_KEY else "city-one-stop")
    assert ctx.correlation_id == response.headers["x-correlation-id"]


def test_the_flow_receives_what_was_sent(client: TestClient, backend: FakeBackend) -> None:
    progress = {
        "NguoiXuLy": "Nguyễn Văn An",
        "ThoiDiemXuLy": "20241121090000",
        "PhongBanXuLy": "Phòng Quản lý đô thị",
        "NoiDungXuLy": "Thẩm định",
        "TrangThai": "4",
        "NgayBatDau": "20241121090000",
        "NgayKetThucTheoQuyDinh": "20241205170000",
    }
    response = client.post(
        "/v1/dossiers/000.00.00.H26-241120-0001/progress",
        json=progress,
        headers={"X-API-Key": CITY_KEY, "X-Correlation-ID": "corr-progress-1"},
    )
    assert response.status_code == 202
    ((advance, add),) = backend.committed()
    assert advance[0] == "dossier_states.advance"
    assert advance[1][0] == "000.00.00.H26-241120-0001" and advance[1][1] == 4
    name, (envelope,), _ = add
    assert name == "messages.add" and envelope.type == "portal.dossier.progress"
    assert json.loads(envelope.body) == {**progress, "MaHoSo": "000.00.00.H26-241120-0001"}
    assert envelope.correlation_id == "corr-progress-1"
    assert response.json() == {"messageId": envelope.message_id, "status": "accepted"}


def test_admin_filters_reach_the_port_under_contract_names(
    client: TestClient, backend: FakeBackend
) -> None:
    response = client.get(
        "/v1/admin/messages",
        params={
            "status": "parked",
            "type": "portal.dossier.sync",
            "dossierCode": "000.00.00.H26-241120-0001",
            "from": "2024-11-21T00:00:00+07:00",
            "limit": "10",
        },
        headers={"X-API-Key": OPS_KEY},
    )
    assert response.status_code == 200, response.text
    ((name, args, _),) = backend.calls
    assert name == "messages.search"
    assert args == (
        {
            "status": "parked",
            "type": "portal.dossier.sync",
            "dossierCode": "000.00.00.H26-241120-0001",
            "from": "2024-11-21T00:00:00+07:00",
        },
        10,
        0,
    )


def test_key_ring_compares_with_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from api_fakes import api_keys

    compared: list[str] = []
    real = security.hmac.compare_digest

    def counting(a: str, b: str) -> bool:
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", counting)
    ring = KeyRing(api_keys())
    assert ring.authenticate(CITY_KEY) is not None
    assert len(compared) == 3  # no early exit on the first key's match
    compared.clear()
    assert ring.authenticate("nope") is None
    assert len(compared) == 3
