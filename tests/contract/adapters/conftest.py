"""Fixtures for adapter contract tests: a partner mock reachable in-process or over HTTP.

``partner_site(mock)`` yields the base URL (``…/{partner}``) at which the mock answers:
- ``inprocess``: every ``requests`` call under that URL goes to ``mock.handle`` through the
  ``responses`` library (``mocks.framework.register_responses``);
- ``http``: the mocks' own server app (``mocks.server.build_app``) on a free port, run by
  uvicorn in a thread, so the adapter crosses a real socket.
Tests taking the ``transport`` fixture run once per transport.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
import responses
import uvicorn

from mocks.framework import PartnerMock, register_responses
from mocks.server import build_app
from mocks.settings import MockSettings

HANG_SECONDS = 1.5  # a timeout fault holds the connection this long over HTTP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_over_http(mock: PartnerMock, settings: MockSettings | None = None) -> Iterator[str]:
    """Serve ``mock`` under ``/{mock.name}`` on a free port; yield its base URL."""
    port = free_port()
    settings = settings or MockSettings(
        public_url=f"http://127.0.0.1:{port}", hang_seconds=HANG_SECONDS
    )
    app = build_app(settings, mocks={mock.name: mock})
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/{mock.name}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_in_process(mock: PartnerMock) -> Iterator[str]:
    base = f"{MockSettings().public_url}/{mock.name}"  # the address the mock signs/announces
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        register_responses(rsps, base, mock)
        yield base


@pytest.fixture(params=["inprocess", "http"])
def transport(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def partner_site(transport: str) -> Callable[[PartnerMock], AbstractContextManager[str]]:
    """``with partner_site(mock) as base_url: ...`` on the test's transport."""

    def site(mock: PartnerMock) -> AbstractContextManager[str]:
        return serve_in_process(mock) if transport == "inprocess" else serve_over_http(mock)

    return site
