"""RFC 7807 for every error: validation (naming the field), 404/405/415, domain errors, 500."""

from __future__ import annotations

from typing import Any

import pytest
from api_fakes import CITY_KEY, OPS_KEY, FakeBackend, request_example, resolve, spec
from starlette.testclient import TestClient

from gateway.domain.errors import (
    Conflict,
    IllegalTransition,
    NotFound,
    UpstreamMalformed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)

CITY = {"X-API-Key": CITY_KEY}
LOOKUP = "/v1/citizens/lookup"


def dossier_example() -> dict[str, Any]:
    return dict(request_example(spec()["paths"]["/v1/dossiers"]["post"]))


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["correlationId"] == response.headers["x-correlation-id"]
    assert {"type", "title"} <= problem.keys()
    if code is not None:
        assert problem["code"] == code
    return problem


def fields(problem: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["message"] for e in problem["errors"]}


def test_body_errors_name_every_field_without_echoing_values(
    client: TestClient, backend: FakeBackend
) -> None:
    record = dossier_example()
    record["MaHoSo"] = "000.00.00.H26-2411-01"
    record["TrangThaiHoSo"] = "11"
    record["DinhDanhCHS"] = [{"LoaiDinhDanh": "1", "SoDinhDanh": "00120300123"}]
    record["Unexpected"] = "x"
    del record["ChuHoSo"]
    problem = assert_problem(
        client.post("/v1/dossiers", json=record, headers=CITY), 400, "invalid_input"
    )
    found = fields(problem)
    assert "does not match the pattern" in found["body.MaHoSo"]
    assert "is not one of" in found["body.TrangThaiHoSo"]
    assert found["body.ChuHoSo"] == "is required"
    assert found["body.Unexpected"] == "is not a known field"
    assert "body.DinhDanhCHS[0]" in found
    assert "00120300123" not in response_text(problem)
    assert backend.calls == []


def response_text(problem: dict[str, Any]) -> str:
    return str(problem)


def test_citizen_number_is_never_echoed(client: TestClient) -> None:
    body = {
        "SoDinhDanh": "0012030012345",
        "HoVaTen": "Nguyễn Thị Bình",
        "NgayThangNamSinh": "2003",
        "MaCanBo": "CB1",
    }
    response = client.post(LOOKUP, json=body, headers=CITY)
    problem = assert_problem(response, 400)
    assert "0012030012345" not in response.text
    assert any(e["field"].startswith("body") for e in problem["errors"])


@pytest.mark.parametrize(
    ("content", "headers", "message"),
    [
        (b"{not json", {"Content-Type": "application/json"}, "is not valid JSON"),
        (b"", {"Content-Type": "application/json"}, "is required"),
        (b"\xff\xfe{}", {"Content-Type": "application/json"}, "is not valid"),
    ],
)
def test_unreadable_bodies(
    client: TestClient, content: bytes, headers: dict[str, str], message: str
) -> None:
    response = client.post(LOOKUP, content=content, headers=CITY | headers)
    problem = assert_problem(response, 400, "invalid_input")
    assert problem["errors"][0]["field"] == "body"
    assert message in problem["errors"][0]["message"]


def test_wrong_media_type_is_415(client: TestClient) -> None:
    response = client.post(
        LOOKUP, content=b"SoDinhDanh=1", headers=CITY | {"Content-Type": "text/plain"}
    )
    assert_problem(response, 415, "unsupported_media_type")


def test_parameter_errors_name_the_parameter(client: TestClient) -> None:
    ops = {"X-API-Key": OPS_KEY}
    problem = assert_problem(
        client.get("/v1/admin/messages?limit=0&status=lost&foo=1", headers=ops), 400
    )
    found = fields(problem)
    assert found["query.limit"] == "is less than 1"
    assert "is not one of" in found["query.status"]
    assert found["query.foo"] == "is not a known parameter"
    problem = assert_problem(client.get("/v1/admin/messages?limit=many", headers=ops), 400)
    assert "query.limit" in fields(problem)
    problem = assert_problem(client.get("/v1/messages/not-a-uuid", headers=CITY), 400)
    assert "does not match the pattern" in fields(problem)["path.messageId"]
    problem = assert_problem(
        client.post(
            "/v1/dossiers", json=dossier_example(), headers=CITY | {"Idempotency-Key": "short"}
        ),
        400,
    )
    assert "header.Idempotency-Key" in fields(problem)


def test_unknown_url_and_method(client: TestClient) -> None:
    assert_problem(client.get("/v1/nothing-here"), 404, "not_found")
    problem = assert_problem(client.delete("/healthz"), 405, "method_not_allowed")
    assert "DELETE" in problem["detail"]


@pytest.mark.parametrize(
    ("error", "status", "code", "partner"),
    [
        (
            UpstreamTimeout("population", "no answer within 5.0 s"),
            504,
            "upstream_timeout",
            "population",
        ),
        (
            UpstreamUnavailable("population", "circuit open"),
            503,
            "upstream_unavailable",
            "population",
        ),
        (UpstreamRejected("population", "SOAP Fault"), 502, "upstream_rejected", "population"),
        (
            UpstreamMalformed("population", "answer breaks the XSD"),
            502,
            "upstream_malformed",
            "population",
        ),
        (NotFound("no such citizen record"), 404, "not_found", None),
        (Conflict("already done"), 409, "conflict", None),
    ],
)
def test_gateway_errors_become_problems(
    client: TestClient,
    backend: FakeBackend,
    error: Exception,
    status: int,
    code: str,
    partner: str | None,
) -> None:
    backend.errors["citizens.lookup"] = error
    body = request_example(spec()["paths"][LOOKUP]["post"])
    problem = assert_problem(client.post(LOOKUP, json=body, headers=CITY), status, code)
    assert problem.get("partner") == partner
    assert problem["detail"] == str(error)


def test_illegal_transition_names_the_field(client: TestClient, backend: FakeBackend) -> None:
    backend.errors["uow.commit"] = IllegalTransition(
        "TrangThaiHoSo 2 -> 9 is not allowed", field="body.TrangThaiHoSo"
    )
    problem = assert_problem(client.post("/v1/dossiers", json=dossier_example(), headers=CITY), 422)
    assert problem["code"] == "illegal_status_transition"
    assert fields(problem) == {"body.TrangThaiHoSo": "TrangThaiHoSo 2 -> 9 is not allowed"}


def test_unexpected_exception_is_500_without_internals(
    client: TestClient, backend: FakeBackend
) -> None:
    backend.errors["uow.commit"] = RuntimeError("password=hunter2 at /srv/secret.py line 3")
    response = client.post("/v1/dossiers", json=dossier_example(), headers=CITY)
    problem = assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.text
    assert "secret.py" not in response.text
    assert "correlation id" in problem["detail"]


def test_a_port_answer_that_breaks_the_contract_is_caught(
    client: TestClient, backend: FakeBackend
) -> None:
    """Response validation is on: a port's non-conforming answer never reaches the caller."""
    backend.answers["citizens.lookup"] = {"found": "7b2f4c1e", "x": 1}
    body = request_example(spec()["paths"][LOOKUP]["post"])
    response = client.post(LOOKUP, json=body, headers=CITY)
    assert_problem(response, 500, "internal_error")
    assert "7b2f4c1e" not in response.text


def test_missing_port_is_503_not_configured(make_client: Any) -> None:
    client = make_client(dossiers=None)
    problem = assert_problem(client.post("/v1/dossiers", json=dossier_example(), headers=CITY), 503)
    assert problem["code"] == "not_configured"
    assert "partner" not in problem


def test_every_problem_matches_the_contract_schema(
    client: TestClient, backend: FakeBackend
) -> None:
    from jsonschema import Draft4Validator

    schema = resolve(spec()["components"]["schemas"]["Problem"])
    validator = Draft4Validator(
        {**schema, "properties": {**schema["properties"], "errors": {"type": "array"}}}
    )
    backend.errors["citizens.lookup"] = UpstreamTimeout("population", "slow")
    for response in (
        client.get("/nowhere"),
        client.delete("/healthz"),
        client.post("/v1/dossiers", json={}, headers=CITY),
        client.post(LOOKUP, json=request_example(spec()["paths"][LOOKUP]["post"]), headers=CITY),
        client.get("/v1/admin/messages", headers=CITY),
        client.get("/v1/admin/messages"),
    ):
        errors = [e.message for e in validator.iter_errors(response.json())]
        assert not errors, (response.status_code, errors)
