"""Fixtures for the API tests: an app over the contract with fakes behind every port.

Building an app costs ~0.5 s (the contract is resolved), so one app is shared by the
session (``client``) with its fake backend reset before each test; tests that need other
services build their own with ``make_client``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from api_fakes import FakeBackend, api_keys
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from starlette.testclient import TestClient

from gateway.api import ApiServices, create_app
from gateway.flows.portal_push import PortalPushVerifier
from gateway.store import make_engine, upgrade
from gateway.store.unit_of_work import units_of_work

warnings.filterwarnings("ignore", message=".*httpx.*")

PORTAL_SECRET = "demo-portal-callback-secret"
JWKS = {
    "keys": [
        {
            "kty": "OKP",
            "crv": "Ed25519",
            "kid": "tthc-2024-11",
            "use": "sig",
            "alg": "EdDSA",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        }
    ]
}


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated SQLite store (idempotency records, portal nonces) for the session."""
    path = tmp_path_factory.mktemp("api-store") / "store.db"
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def build_services(backend: FakeBackend, **overrides: Any) -> ApiServices:
    values: dict[str, Any] = {
        "api_keys": api_keys(),
        "max_body_bytes": 64 * 1024,
        "metrics_registry": CollectorRegistry(),
        "jwks_provider": lambda: JWKS,
    }
    for group in (
        "dossiers",
        "procedures",
        "citizens",
        "payments",
        "documents",
        "messages",
        "callbacks",
    ):
        values[group] = backend.port(group)
    values.update(overrides)
    return ApiServices(**values)


def open_client(services: ApiServices) -> TestClient:
    client = TestClient(
        create_app(services, validate_responses=True), raise_server_exceptions=False
    )
    client.__enter__()
    client.services = services  # type: ignore[attr-defined]
    return client


@pytest.fixture(scope="session")
def shared_backend(engine: Engine) -> FakeBackend:
    return FakeBackend(units_of_work(engine))


@pytest.fixture(scope="session")
def shared_client(shared_backend: FakeBackend, engine: Engine) -> Iterator[TestClient]:
    verifier = PortalPushVerifier(engine, PORTAL_SECRET)
    client = open_client(build_services(shared_backend, portal_push=verifier))
    yield client
    client.__exit__(None, None, None)


@pytest.fixture
def backend(shared_backend: FakeBackend) -> FakeBackend:
    shared_backend.reset()
    return shared_backend


@pytest.fixture
def client(shared_client: TestClient, backend: FakeBackend) -> TestClient:
    return shared_client


@pytest.fixture
def make_client(backend: FakeBackend) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = open_client(build_services(backend, **overrides))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
