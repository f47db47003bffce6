"""The portal contract tests' harness: the portal mock in-process (responses) and over real HTTP.

``portal`` is parametrized over binding (rest, soap) x transport (inprocess, http): every
test that asks for it runs four times. The mock is fresh per test (in-process) or reset
per test (the HTTP server is shared by the module).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import responses
import uvicorn

from adapters.portal import PortalConfig, RestPortalClient, SoapPortalClient, build_portal_client
from gateway.testing.recorders import ListRecorder
from mocks.framework import FaultSpec, register_responses
from mocks.portal.app import PortalMock
from mocks.server import build_app
from mocks.settings import MockSettings

IN_PROCESS_BASE = "http://portal.mock.test/portal"
HANG_SECONDS = 2.0
READ_TIMEOUT = 0.5


@dataclass
class PortalHarness:
    binding: str
    transport: str
    mock: PortalMock
    client: RestPortalClient | SoapPortalClient
    recorder: ListRecorder

    @property
    def route(self) -> str:
        """The mock route integration calls go to (for faults)."""
        return "POST /soap" if self.binding == "soap" else "POST /rest/integration"

    @property
    def sharing_route(self) -> str:
        return "POST /soap" if self.binding == "soap" else "POST /rest/sharing"

    def fault(self, **spec: Any) -> None:
        self.mock.add_fault(FaultSpec(**{"route": self.route, **spec}))

    def services_called(self) -> list[str]:
        """The service names the mock received, in order (login excluded)."""
        names = []
        for request in self.mock.recorded:
            body = request["body"]
            if request["path"] == "/rest/login":
                continue
            for name in (
                "DongBoHoSoMC",
                "CapNhatTienDoHoSoMC",
                "TraCuuHoSo",
                "LayDanhSachTTHC",
                "LayThuTuc",
            ):
                if f'"service":"{name}"' in body or f":{name}>" in body or f":{name} " in body:
                    names.append(name)
                    break
        return names


def portal_config(url: str, binding: str, **changes: Any) -> PortalConfig:
    values: dict[str, Any] = {
        "url": url,
        "agency_code": "000.00.00.H26",
        "binding": binding,
        "username": "demo",
        "password": "demo-portal-password",
        "auth_endpoint": "/rest/login",
        "integration_endpoint": "/rest/integration",
        "share_endpoint": "/rest/sharing",
        "soap_path": "/soap",
        "allow_plain_http": True,
        "read_timeout": READ_TIMEOUT,
        "connect_timeout": 1.0,
        "read_retries": 0,
        "max_answer_bytes": 256 * 1024,
        "failure_threshold": 100,
    }
    values.update(changes)
    return PortalConfig(**values)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MockServer:
    """The mocks' ASGI app under uvicorn in a daemon thread, on a free port."""

    def __init__(self, mock: PortalMock) -> None:
        self.port = _free_port()
        app = build_app(MockSettings(hang_seconds=HANG_SECONDS), mocks={"portal": mock})
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="portal-mock", daemon=True)

    def __enter__(self) -> MockServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("portal mock server did not start within 10 s")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/portal"


@pytest.fixture(scope="module")
def served_mock() -> Iterator[tuple[PortalMock, str]]:
    mock = PortalMock(MockSettings(hang_seconds=HANG_SECONDS))
    with MockServer(mock) as server:
        yield mock, server.url


@pytest.fixture(params=["rest", "soap"])
def binding(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["inprocess", "http"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_harness(
    binding: str, transport: str, request: pytest.FixtureRequest, **config_changes: Any
) -> Iterator[PortalHarness]:
    recorder = ListRecorder()
    if transport == "http":
        mock, url = request.getfixturevalue("served_mock")
        mock.reset()
        client = build_portal_client(portal_config(url, binding, **config_changes), recorder)
        yield PortalHarness(binding, transport, mock, client, recorder)  # type: ignore[arg-type]
        mock.reset()
        return
    mock = PortalMock(MockSettings(hang_seconds=HANG_SECONDS))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        register_responses(rsps, IN_PROCESS_BASE, mock)
        client = build_portal_client(
            portal_config(IN_PROCESS_BASE, binding, **config_changes), recorder
        )
        yield PortalHarness(binding, transport, mock, client, recorder)  # type: ignore[arg-type]


@pytest.fixture
def portal(binding: str, transport: str, request: pytest.FixtureRequest) -> Iterator[PortalHarness]:
    yield from make_harness(binding, transport, request)


@pytest.fixture
def rest_portal(transport: str, request: pytest.FixtureRequest) -> Iterator[PortalHarness]:
    yield from make_harness("rest", transport, request, read_timeout=5.0)


@pytest.fixture
def soap_portal(transport: str, request: pytest.FixtureRequest) -> Iterator[PortalHarness]:
    yield from make_harness("soap", transport, request)
