"""Correlation ids, the body size limit, metrics, readiness, JWKS, callbacks."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from api_fakes import CITY_KEY, PAYMENT_SECRET, FakeBackend, request_example, spec
from conftest import JWKS, PORTAL_SECRET, build_services
from starlette.testclient import TestClient

from adapters.payment.checksum import sign
from gateway.api import ReadinessCheck, create_app
from gateway.domain.errors import ConfigError
from gateway.flows.portal_push import portal_signature

CITY = {"X-API-Key": CITY_KEY}


# ---- correlation id ---------------------------------------------------------------------


def test_correlation_id_is_echoed(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Correlation-ID": "city-req-000123"})
    assert response.headers["x-correlation-id"] == "city-req-000123"


@pytest.mark.parametrize(
    "given", [None, "short", "has spaces in it", "x" * 200, "id/with/slash-123"]
)
def test_correlation_id_is_generated_when_absent_or_invalid(
    client: TestClient, given: str | None
) -> None:
    headers = {"X-Correlation-ID": given} if given is not None else {}
    generated = client.get("/healthz", headers=headers).headers["x-correlation-id"]
    assert uuid.UUID(generated)
    assert client.get("/healthz", headers=headers).headers["x-correlation-id"] != generated


def test_correlation_id_on_errors_and_passed_to_ports(
    client: TestClient, backend: FakeBackend
) -> None:
    for response in (client.get("/nowhere"), client.post("/v1/dossiers", json={}, headers=CITY)):
        assert response.json()["correlationId"] == response.headers["x-correlation-id"]
    body = request_example(spec()["paths"]["/v1/citizens/lookup"]["post"])
    response = client.post(
        "/v1/citizens/lookup", json=body, headers=CITY | {"X-Correlation-ID": "trace-abcdef12"}
    )
    assert response.status_code == 200
    assert backend.calls[0][2].correlation_id == "trace-abcdef12"


def test_correlation_id_is_bound_in_the_logs(client: TestClient, backend: FakeBackend) -> None:
    import structlog

    seen: list[Any] = []

    def record(*_: Any) -> dict[str, Any]:
        seen.append(structlog.contextvars.get_contextvars().get("correlation_id"))
        return {"found": False}

    backend.answers["citizens.lookup"] = {"found": False}
    original = backend.answer

    def spy(name: str, args: tuple[Any, ...], ctx: Any) -> Any:
        record()
        return original(name, args, ctx)

    backend.answer = spy  # type: ignore[method-assign]
    try:
        body = request_example(spec()["paths"]["/v1/citizens/lookup"]["post"])
        client.post(
            "/v1/citizens/lookup", json=body, headers=CITY | {"X-Correlation-ID": "trace-logs-0001"}
        )
    finally:
        del backend.answer
    # ports run in a worker thread: starlette copies the context, so the binding follows
    assert seen == ["trace-logs-0001"]


# ---- body limit -------------------------------------------------------------------------


def test_body_over_the_limit_is_413(client: TestClient, backend: FakeBackend) -> None:
    limit = client.services.max_body_bytes  # type: ignore[attr-defined]
    body = b'{"x":"' + b"a" * limit + b'"}'
    response = client.post(
        "/v1/dossiers", content=body, headers=CITY | {"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "payload_too_large"
    assert response.headers["x-correlation-id"]
    assert backend.calls == []


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    limit = client.services.max_body_bytes  # type: ignore[attr-defined]

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 1024 + 2):
            yield b"a" * 1024

    response = client.post(
        "/v1/dossiers", content=chunks(), headers=CITY | {"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_body_under_the_limit_passes(client: TestClient) -> None:
    body = request_example(spec()["paths"]["/v1/dossiers"]["post"])
    assert client.post("/v1/dossiers", json=body, headers=CITY).status_code == 202


# ---- metrics ----------------------------------------------------------------------------


def test_metrics_count_requests_by_operation_and_status(client: TestClient) -> None:
    client.get("/healthz")
    client.post("/v1/dossiers", json={}, headers=CITY)
    client.get("/v1/unknown/thing")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert re.search(
        r'tthc_http_requests_total\{method="GET",operation="ops.healthz",status="200"\} [1-9]', text
    )
    assert re.search(
        r'tthc_http_requests_total\{method="POST",operation="dossiers.sync_dossier",status="400"\} [1-9]',
        text,
    )
    assert 'operation="unrouted",status="404"' in text
    assert 'tthc_http_request_duration_seconds_bucket{le="0.005",operation="ops.healthz"}' in text
    assert "/v1/unknown/thing" not in text


# ---- readiness --------------------------------------------------------------------------


def test_readyz_all_checks_pass(make_client: Any) -> None:
    calls: list[str] = []

    async def database() -> None:
        calls.append("database")

    def broker() -> str:
        calls.append("broker")
        return "rabbitmq"

    client = make_client(
        readiness_checks=[ReadinessCheck("database", database), ReadinessCheck("broker", broker)],
        readiness_cache_seconds=60,
    )
    first = client.get("/readyz")
    assert first.status_code == 200
    assert first.json()["status"] == "ready"
    assert [(c["name"], c["detail"]) for c in first.json()["checks"]] == [
        ("database", "ok"),
        ("broker", "rabbitmq"),
    ]
    assert client.get("/readyz").json()["checks"] == first.json()["checks"]
    assert sorted(calls) == ["broker", "database"]  # the second answer came from the cache


def test_readyz_reports_each_failure_with_timeouts(make_client: Any) -> None:
    async def slow() -> None:
        await asyncio.sleep(5)

    def broken() -> None:
        raise ConnectionRefusedError("connection refused")

    client = make_client(
        readiness_checks=[
            ReadinessCheck("keys", lambda: True),
            ReadinessCheck("broker", slow, timeout=0.05),
            ReadinessCheck("database", broken),
        ],
        readiness_cache_seconds=0,
    )
    started = time.perf_counter()
    response = client.get("/readyz")
    assert time.perf_counter() - started < 2
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    checks = {c["name"]: c for c in response.json()["checks"]}
    assert checks["keys"]["ok"] is True
    assert checks["broker"] == checks["broker"] | {"ok": False, "detail": "timed out after 0.05 s"}
    assert checks["database"]["detail"].startswith("ConnectionRefusedError")
    assert "broker" in response.json()["detail"]


def test_healthz_and_jwks(client: TestClient, make_client: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/.well-known/jwks.json").json() == JWKS
    unconfigured = make_client(jwks_provider=None)
    assert unconfigured.get("/.well-known/jwks.json").status_code == 503


# ---- callbacks --------------------------------------------------------------------------


def portal_push(
    body: bytes, *, timestamp: int | None = None, nonce: str | None = None
) -> dict[str, str]:
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    nonce = nonce or uuid.uuid4().hex
    return {
        "Content-Type": "application/json",
        "X-Portal-Timestamp": stamp,
        "X-Portal-Nonce": nonce,
        "X-Portal-Signature": portal_signature(PORTAL_SECRET, stamp, nonce, body),
    }


def submitted_body() -> bytes:
    example = request_example(spec()["paths"]["/v1/callbacks/portal/dossiers"]["post"])
    return json.dumps(example, ensure_ascii=False).encode()


PUSH = "/v1/callbacks/portal/dossiers"


def test_signed_portal_push_is_accepted(client: TestClient, backend: FakeBackend) -> None:
    body = submitted_body()
    headers = portal_push(body)
    response = client.post(PUSH, content=body, headers=headers)
    assert response.status_code == 202, response.text
    ((spend, add),) = backend.committed()
    assert spend[0] == "nonces.spend" and spend[1][0] == headers["X-Portal-Nonce"]
    name, (envelope,), options = add
    assert name == "messages.add" and envelope.type == "city.dossier.submitted"
    assert json.loads(envelope.body)["dossier"] == json.loads(body)
    assert options["keep_existing"] is True
    assert response.json() == {"messageId": envelope.message_id, "status": "accepted"}


def test_portal_push_refusals(client: TestClient, backend: FakeBackend) -> None:
    body = submitted_body()
    tampered = body.replace(b"Tr\xe1\xba\xa7n", b"Tran")
    assert tampered != body
    cases = {
        "tampered body": (tampered, portal_push(body)),
        "stale timestamp": (body, portal_push(body, timestamp=int(time.time()) - 301)),
        "future timestamp": (body, portal_push(body, timestamp=int(time.time()) + 301)),
        "wrong secret": (body, portal_push(body) | {"X-Portal-Signature": "0" * 64}),
        "no signature": (
            body,
            {k: v for k, v in portal_push(body).items() if k != "X-Portal-Signature"},
        ),
    }
    for label, (content, headers) in cases.items():
        response = client.post(PUSH, content=content, headers=headers)
        assert response.status_code == 401, label
        assert response.headers["content-type"] == "application/problem+json"
    assert backend.calls == []


def test_portal_push_nonce_is_single_use(client: TestClient, backend: FakeBackend) -> None:
    body = submitted_body()
    headers = portal_push(body)
    assert client.post(PUSH, content=body, headers=headers).status_code == 202
    replay = client.post(PUSH, content=body, headers=headers)
    assert replay.status_code == 401
    assert replay.json()["code"] == "signature_invalid"
    assert "Nonce" in replay.json()["detail"]
    assert len(backend.calls) == 1


def signed_confirm(backend: FakeBackend) -> dict[str, Any]:
    """The contract's example confirm, signed, for a payment the fake ledger knows."""
    example = request_example(spec()["paths"]["/v1/callbacks/payments"]["post"])
    fields = {k: v for k, v in example.items() if k != "MaXacThuc"}
    backend.payments[example["MaThamChieu"]] = example["SoTien"]
    return sign("CONFIRM", fields, PAYMENT_SECRET, "sha256-suffix")


def test_payment_confirm_is_answered_in_the_platform_format(
    client: TestClient, backend: FakeBackend
) -> None:
    confirm = signed_confirm(backend)
    response = client.post("/v1/callbacks/payments", json=confirm)
    assert response.status_code == 200
    assert response.json()["MaLoi"] == "00"
    ((add, announced, paid),) = backend.committed()
    assert add[0] == "messages.add" and add[1][0].type == "city.payment.confirmed"
    assert announced[0] == "payments.set_announced"
    assert paid[:2] == ("payments.finish", (confirm["MaThamChieu"], "paid", "callback"))


def test_payment_confirm_source_allowlist(backend: FakeBackend) -> None:
    confirm = signed_confirm(backend)
    app = create_app(build_services(backend, payment_callback_allowlist=["10.0.0.0/8"]))
    with TestClient(app, client=("192.0.2.7", 40000)) as outsider:
        response = outsider.post("/v1/callbacks/payments", json=confirm)
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
    assert backend.calls == []
    with TestClient(app, client=("10.1.2.3", 40000)) as platform:
        assert platform.post("/v1/callbacks/payments", json=confirm).status_code == 200
    assert len(backend.calls) == 1


def test_a_bad_allowlist_entry_stops_start_up(backend: FakeBackend) -> None:
    with pytest.raises(ConfigError, match="not-a-network"):
        build_services(backend, payment_callback_allowlist=["not-a-network"])
