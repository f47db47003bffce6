"""The operational surface of the wired gateway (issue 12): /metrics internal, /readyz
without exception text, Swagger UI off unless configured, the TTL and window settings
honoured, every demo secret refused in production."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import shutil
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from starlette.testclient import TestClient

from gateway.api.app import create_app
from gateway.api.services import ApiServices, ReadinessCheck
from gateway.bootstrap import Gateway, build
from gateway.config import load_settings
from gateway.domain.errors import ConfigError, SignatureInvalid
from gateway.flows.idempotency import KeyClaim, StoredResponse
from gateway.messaging.port import TransportError
from gateway.messaging.rabbitmq import RabbitSettings, RabbitTransport
from gateway.settings_model import DEMO_SECRETS, Settings
from gateway.store.db import utcnow
from gateway.store.schema import idempotency

REPO = Path(__file__).resolve().parents[3]
OPS = {"X-API-Key": "demo-ops-key"}
CITY = {"X-API-Key": "demo-city-key"}
# a broker that refuses, with a user, password, host and vhost that must not show
BROKER_URL = "amqp://leaky-user:leaky-password@127.0.0.1:1/leaky-vhost"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def settings_for(tmp_path: Path, **environ: str) -> Settings:
    base = {
        "TTHC_VAR_DIR": str(tmp_path),
        "TTHC_KEYS__DIRECTORY": str(tmp_path / "keys"),
        "TTHC_EVIDENCE__TSA_URL": "",
    }
    return load_settings(REPO / "config", environ=base | environ)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    built = build(settings_for(tmp_path))
    yield built
    built.close()


# ---- /metrics ---------------------------------------------------------------------------


def test_metrics_are_not_on_the_api_port_by_default_and_need_ops_when_asked(
    gateway: Gateway,
) -> None:
    services = gateway.api_services()
    assert gateway.settings.http.metrics_on_api == "off"
    apart = dataclasses.replace(services, metrics_registry=CollectorRegistry())
    off = TestClient(create_app(apart, metrics_access="off"))
    assert off.get("/metrics").status_code == 404
    ops = TestClient(create_app(services, metrics_access="ops", validate_responses=True))
    assert ops.get("/metrics").status_code == 401
    assert ops.get("/metrics", headers=CITY).status_code == 403
    answer = ops.get("/metrics", headers=OPS)
    assert answer.status_code == 200 and "tthc_outbox_pending" in answer.text


def test_serve_answers_metrics_on_its_internal_listener(tmp_path: Path) -> None:
    api_port, metrics_port = free_port(), free_port()
    gateway = build(
        settings_for(
            tmp_path,
            TTHC_HTTP__PORT=str(api_port),
            TTHC_HTTP__METRICS_PORT=str(metrics_port),
            TTHC_HTTP__SWAGGER_UI="false",
        )
    )
    server = gateway.api_server()
    import threading

    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        internal = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert internal.status_code == 200 and "tthc_outbox_pending" in internal.text
        public = requests.get(f"http://127.0.0.1:{api_port}/metrics", timeout=5)
        assert public.status_code == 404
        assert requests.get(f"http://127.0.0.1:{api_port}/ui/", timeout=5).status_code == 404
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        gateway.close()
    with pytest.raises(requests.ConnectionError):  # stopped with the API
        requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2)


# ---- /readyz ----------------------------------------------------------------------------


def test_readyz_with_a_failing_broker_shows_no_url_user_host_or_message(tmp_path: Path) -> None:
    gateway = build(settings_for(tmp_path, TTHC_BROKER__URL=BROKER_URL))
    # the broker as a started API sees it when it goes away: one connection attempt
    gateway.__dict__["transport"] = RabbitTransport(
        RabbitSettings(url=BROKER_URL, connect_attempts=1, connect_backoff=(0.0,))
    )
    try:
        client = TestClient(create_app(gateway.api_services(), validate_responses=True))
        response = client.get("/readyz")
    finally:
        gateway.engine.dispose()
    assert response.status_code == 503
    checks = {check["name"]: check for check in response.json()["checks"]}
    broker = checks["broker"]
    assert broker["ok"] is False
    assert broker["detail"].isidentifier() or broker["detail"].startswith("timed out")
    for leak in ("leaky", "127.0.0.1", "amqp", "password", "Errno", "refused", "unreachable"):
        assert leak not in response.text, leak
    assert checks["database"]["ok"] is True


def test_no_probe_exception_text_reaches_readyz() -> None:
    """Whatever a probe raises (a broker client's text with the URL, a keys file's path,
    a socket error naming the host), only its type is shown."""

    def broker() -> None:
        raise TransportError(f"broker operation failed: {BROKER_URL} (ACCESS_REFUSED leaky-user)")

    def keys() -> None:
        raise FileNotFoundError(2, "No such file", "/etc/leaky-keys/signing.pem")

    def socket_error() -> None:
        raise ConnectionRefusedError(111, "Connection refused to leaky-host:5432")

    checks = [
        ReadinessCheck("broker", broker),
        ReadinessCheck("signing_keys", keys),
        ReadinessCheck("other", socket_error),
    ]
    app = create_app(ApiServices(readiness_checks=checks, readiness_cache_seconds=0))
    response = TestClient(app).get("/readyz")
    assert response.status_code == 503
    details = {check["name"]: check["detail"] for check in response.json()["checks"]}
    assert details == {
        "broker": "TransportError",
        "signing_keys": "FileNotFoundError",
        "other": "ConnectionRefusedError",
    }
    assert "leaky" not in response.text


# ---- Swagger UI -------------------------------------------------------------------------


def test_swagger_ui_is_off_by_default_on_in_the_demo_off_in_production() -> None:
    assert Settings().http.swagger_ui is False
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text("utf-8"))
    production = yaml.safe_load((REPO / "config" / "production.example.yaml").read_text("utf-8"))
    assert demo["http"]["swagger_ui"] is True
    assert production["http"]["swagger_ui"] is False


def test_the_demo_server_serves_the_ui(gateway: Gateway) -> None:
    assert gateway.settings.http.swagger_ui is True
    services = gateway.api_services()
    client = TestClient(create_app(services, swagger_ui=True))
    assert client.get("/ui/").status_code == 200
    apart = dataclasses.replace(services, metrics_registry=CollectorRegistry())
    assert TestClient(create_app(apart)).get("/ui/").status_code == 404


# ---- settings honoured ------------------------------------------------------------------


def test_idempotency_records_are_kept_api_idempotency_ttl_hours(tmp_path: Path) -> None:
    gateway = build(settings_for(tmp_path, TTHC_API__IDEMPOTENCY_TTL_HOURS="72"))
    try:
        keys = gateway.api_services().idempotency
        assert keys is not None
        keys.answer_soon(KeyClaim("caller", "key-1", "hash"), StoredResponse(200, b"{}")).result(5)
        with gateway.engine.connect() as connection:
            expires = connection.execute(select(idempotency.c.expires_at)).scalar_one()
    finally:
        gateway.close()
    assert abs(expires - (utcnow() + timedelta(hours=72))) < timedelta(minutes=1)


def signed(secret: str, timestamp: int, nonce: str, body: bytes) -> dict[str, str]:
    message = f"{timestamp}.{nonce}.".encode() + body
    signature = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {
        "X-Portal-Timestamp": str(timestamp),
        "X-Portal-Nonce": nonce,
        "X-Portal-Signature": signature,
    }


@pytest.mark.parametrize(("window", "accepted"), [("600", True), ("300", False)])
def test_portal_pushes_are_checked_against_callbacks_portal_window_seconds(
    tmp_path: Path, window: str, accepted: bool
) -> None:
    gateway = build(settings_for(tmp_path, TTHC_CALLBACKS__PORTAL_WINDOW_SECONDS=window))
    try:
        verifier = gateway.api_services().portal_push
        assert verifier is not None and verifier is gateway.portal_push
        secret = gateway.settings.callbacks.portal_secret.get_secret_value()
        headers = signed(secret, int(time.time()) - 450, f"nonce-{window}", b"{}")
        if accepted:
            assert verifier.check(headers, b"{}") == f"nonce-{window}"
        else:
            with pytest.raises(SignatureInvalid):
                verifier.check(headers, b"{}")
    finally:
        gateway.close()


# ---- demo secrets in production ---------------------------------------------------------


def test_every_secret_of_the_demo_file_is_a_known_demo_secret() -> None:
    demo = load_settings(REPO / "config", environ={})
    secrets = {value for _, value in demo.secret_items() if value}
    assert secrets <= DEMO_SECRETS
    assert {"demo-population-api-key", "demo-population-secret"} <= secrets


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        (
            "TTHC_ADAPTERS__POPULATION__API_KEY",
            "demo-population-api-key",
            "adapters.population.api_key",
        ),
        (
            "TTHC_ADAPTERS__POPULATION__CLIENT_SECRET",
            "demo-lgsp-secret",
            "adapters.population.client_secret",
        ),
        (
            "TTHC_ADAPTERS__POPULATION__CLIENT_SECRET",
            "demo-population-secret",
            "adapters.population.client_secret",
        ),
    ],
)
def test_production_refuses_each_demo_secret(
    tmp_path: Path, variable: str, value: str, key: str
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(REPO / "config" / "default.yaml", config / "default.yaml")
    shutil.copy(REPO / "config" / "production.example.yaml", config / "production.yaml")
    with pytest.raises(ConfigError) as refused:
        load_settings(config, environ={"TTHC_ENV": "production", variable: value})
    assert key in str(refused.value) and value not in str(refused.value)
