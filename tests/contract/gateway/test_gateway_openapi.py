"""The gateway's OpenAPI contract: valid, strict, consistent, with examples that validate."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from gateway_spec import (
    SPEC_URI,
    errors_for,
    examples_with_schemas,
    operations,
    resolve_local,
    spec,
)
from openapi_spec_validator import validate

PUBLIC_OPERATIONS = {
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/metrics", "get"),
    ("/.well-known/jwks.json", "get"),
}
CALLBACKS = {
    ("/v1/callbacks/portal/dossiers", "post"): [{"PortalPush": []}],
    ("/v1/callbacks/payments", "post"): [],
}
SCOPES = {"dossiers", "citizens", "payments", "documents", "ops"}
REQUIRED_OPERATIONS = {
    ("/v1/dossiers", "post"),
    ("/v1/dossiers/{dossierCode}/progress", "post"),
    ("/v1/dossiers/{dossierCode}/portal-status", "get"),
    ("/v1/procedures/{procedureCode}", "get"),
    ("/v1/citizens/lookup", "post"),
    ("/v1/citizens/verify", "post"),
    ("/v1/payments", "post"),
    ("/v1/payments/{reference}", "get"),
    ("/v1/payments/{reference}/receipt", "get"),
    ("/v1/documents/search", "post"),
    ("/v1/documents/fetch", "post"),
    ("/v1/messages/{messageId}", "get"),
    ("/v1/callbacks/portal/dossiers", "post"),
    ("/v1/callbacks/payments", "post"),
    ("/v1/admin/messages", "get"),
    ("/v1/admin/messages/{messageId}", "get"),
    ("/v1/admin/messages/{messageId}/replay", "post"),
    ("/v1/admin/replays", "post"),
    *PUBLIC_OPERATIONS,
}
ALL_OPERATIONS = sorted((path, method) for path, method, _ in operations())


def _operation(path: str, method: str) -> dict[str, Any]:
    operation = spec()["paths"][path][method]
    assert isinstance(operation, dict)
    return operation


def test_spec_is_valid_openapi_3_0_3() -> None:
    assert spec()["openapi"] == "3.0.3"
    validate(spec(), base_uri=SPEC_URI)


def test_every_operation_of_the_issue_is_present() -> None:
    assert set(ALL_OPERATIONS) == REQUIRED_OPERATIONS


def test_operation_ids_are_unique_and_point_at_handlers() -> None:
    ids = [operation["operationId"] for _, _, operation in operations()]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        module_name, _, function_name = operation_id.rpartition(".")
        assert module_name.startswith("gateway.api.handlers."), operation_id
        module = importlib.import_module(module_name)
        assert callable(getattr(module, function_name, None)), f"{operation_id} does not resolve"


@pytest.mark.parametrize(("where", "schema_pointer", "example"), list(examples_with_schemas()))
def test_every_example_validates(where: str, schema_pointer: str, example: Any) -> None:
    errors = errors_for(schema_pointer, example)
    assert not errors, f"{where}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


def test_examples_cover_every_request_body_and_json_response() -> None:
    for path, method, operation in operations():
        bodies = []
        if "requestBody" in operation:
            bodies.append(("request", resolve_local(operation["requestBody"])))
        for status, response in operation["responses"].items():
            bodies.append((status, resolve_local(response)))
        for label, body in bodies:
            for media_type, content in body.get("content", {}).items():
                if media_type == "application/pdf":
                    continue
                assert "example" in content or "examples" in content, (
                    f"{method.upper()} {path} {label} {media_type}: no example"
                )


def test_a_wrong_example_is_refused() -> None:
    """The example checker itself bites: a broken dossier record does not validate."""
    record = dict(resolve_local(spec()["components"]["examples"]["DossierRecord"])["value"])
    record["MaHoSo"] = "000.00.00.H26-2411-01"
    record["TrangThaiHoSo"] = "11"
    record["Unexpected"] = "x"
    messages = [e.message for e in errors_for("/components/schemas/DossierRecord", record)]
    assert len(messages) == 3, messages


@pytest.mark.parametrize(("path", "method"), ALL_OPERATIONS)
def test_exactly_one_media_type_per_body(path: str, method: str) -> None:
    operation = _operation(path, method)
    if "requestBody" in operation:
        assert len(resolve_local(operation["requestBody"])["content"]) == 1
    for status, response in operation["responses"].items():
        content = resolve_local(response).get("content", {})
        assert len(content) == 1, f"{method.upper()} {path} {status}: {list(content)}"


@pytest.mark.parametrize(("path", "method"), ALL_OPERATIONS)
def test_every_error_is_a_problem(path: str, method: str) -> None:
    operation = _operation(path, method)
    responses = operation["responses"]
    assert "default" in responses
    error_statuses = [s for s in responses if s == "default" or int(s) >= 400]
    for status in error_statuses:
        response = resolve_local(responses[status])
        assert list(response["content"]) == ["application/problem+json"], (path, method, status)
        schema = response["content"]["application/problem+json"]["schema"]
        assert schema["$ref"].endswith(("/Problem", "/NotReadyProblem"))
    if (path, method) not in PUBLIC_OPERATIONS:
        assert "400" in responses and "500" in responses


@pytest.mark.parametrize(("path", "method"), ALL_OPERATIONS)
def test_every_response_carries_the_correlation_id(path: str, method: str) -> None:
    for status, response in _operation(path, method)["responses"].items():
        assert "X-Correlation-ID" in resolve_local(response).get("headers", {}), (path, status)


@pytest.mark.parametrize(("path", "method"), ALL_OPERATIONS)
def test_security_and_scopes(path: str, method: str) -> None:
    operation = _operation(path, method)
    if (path, method) in PUBLIC_OPERATIONS:
        assert operation["security"] == []
        assert "x-scopes" not in operation
    elif (path, method) in CALLBACKS:
        assert operation["security"] == CALLBACKS[(path, method)]
        assert "401" in operation["responses"] or operation.get("x-authentication")
    else:
        assert "security" not in operation, "API-key operations inherit the global ApiKey"
        assert spec()["security"] == [{"ApiKey": []}]
        scopes = operation["x-scopes"]
        assert scopes and set(scopes) <= SCOPES
        assert {"401", "403"} <= set(operation["responses"])
        if path.startswith("/v1/admin/"):
            assert scopes == ["ops"]


def test_security_schemes() -> None:
    schemes = spec()["components"]["securitySchemes"]
    assert schemes["ApiKey"] == schemes["ApiKey"] | {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    assert schemes["PortalPush"]["name"] == "X-Portal-Signature"
    assert (
        "MaXacThuc"
        in spec()["components"]["x-authentication-schemes"]["PaymentChecksum"]["description"]
    )


def _object_schemas(node: Any, pointer: str) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            found.append((pointer, node))
        for key, value in node.items():
            if key not in {"example", "examples"}:
                found.extend(_object_schemas(value, f"{pointer}/{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_object_schemas(value, f"{pointer}/{index}"))
    return found


def test_every_object_schema_is_closed() -> None:
    objects = _object_schemas(spec(), "")
    assert len(objects) > 30
    open_ones = [p for p, schema in objects if schema.get("additionalProperties") is not False]
    assert not open_ones


def test_every_string_is_bounded() -> None:
    """Strings carry a maxLength, a pattern, an enum or a bounded format."""
    unbounded = []

    def walk(node: Any, pointer: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" and not (
                {"maxLength", "pattern", "enum"} & node.keys()
                or node.get("format") in {"date-time", "uuid"}
            ):
                unbounded.append(pointer)
            for key, value in node.items():
                if key not in {"example", "examples"}:
                    walk(value, f"{pointer}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{pointer}/{index}")

    walk(spec()["components"]["schemas"], "/components/schemas")
    walk(spec()["paths"], "/paths")
    assert not unbounded


@pytest.mark.parametrize(
    ("schema", "value", "ok"),
    [
        ("DossierCode", "000.00.00.H26-241120-0001", True),
        ("DossierCode", "000.00.00.H26-241120-00012", True),
        ("DossierCode", "000.00.00.H26-241120-001", False),
        ("DossierCode", "000.00.00.h26-241120-0001", False),
        ("DossierCode", "000.00.00.H26-241320-0001", False),
        ("AgencyCode", "000.00.01.H22", True),
        ("AgencyCode", "00.00.01.H22", False),
        ("ProcedureCode", "1.001234", True),
        ("ProcedureCode", "2.000477.000.00.00.H26", True),
        ("ProcedureCode", "1.00123", False),
        ("PublicServiceCode", "2.000815.000.00.00.H26.01", True),
        ("PublicServiceCode", "2.000815", False),
        ("Cccd", "001203001234", True),
        ("Cccd", "00120300123", False),
        ("Cmnd", "012345678", True),
        ("Cmnd", "0123456789", False),
        ("NationalDateTime", "20241120083000", True),
        ("NationalDateTime", "20241320083000", False),
        ("NationalDateTime", "2024-11-20", False),
        ("DossierStatusCode", "10", True),
        ("DossierStatusCode", "0", False),
        ("MessageId", "7b2f4c1e-9a3d-4e8b-b1c2-3d4e5f6a7b8c", True),
        ("MessageId", "not-a-uuid", False),
        ("PaymentReference", "00000H262411200001241121090000", True),
        ("PaymentReference", "000.00.00.H26", False),
    ],
)
def test_identifier_patterns(schema: str, value: str, ok: bool) -> None:
    assert (not errors_for(f"/components/schemas/{schema}", value)) is ok


def test_citizen_query_needs_exactly_one_identity_number() -> None:
    base = {"HoVaTen": "Nguyễn Văn An", "NgayThangNamSinh": "1990", "MaCanBo": "CB1"}
    pointer = "/components/schemas/CitizenQuery"
    assert not errors_for(pointer, base | {"SoDinhDanh": "001090001234"})
    assert not errors_for(pointer, base | {"SoCMND": "012345678"})
    assert errors_for(pointer, base)
    assert errors_for(pointer, base | {"SoDinhDanh": "001090001234", "SoCMND": "012345678"})


def test_problem_allows_field_errors_and_partner() -> None:
    pointer = "/components/schemas/Problem"
    problem = {
        "type": "about:blank",
        "title": "Bad Gateway",
        "status": 502,
        "partner": "population",
        "errors": [{"field": "body.SoDinhDanh", "message": "too short"}],
    }
    assert not errors_for(pointer, problem)
    assert errors_for(pointer, problem | {"partner": "somebody"})
    assert errors_for(pointer, problem | {"stack": "Traceback"})
