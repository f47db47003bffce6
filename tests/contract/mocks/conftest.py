"""Fixtures for the mock tests (helpers live in :mod:`mocks._testing`).

- ``live_mocks``: the portal and payment mocks, plus a fake merchant at ``/merchant`` that
  receives the payment confirm callbacks, served over real HTTP once per session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.routing import Mount

from mocks._testing import FakeMerchant, LiveMocks, free_port, run_server
from mocks.payment.app import PaymentMock
from mocks.portal.app import PortalMock
from mocks.server import build_app
from mocks.settings import MockSettings


@pytest.fixture(scope="session")
def live_mocks() -> Iterator[LiveMocks]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = MockSettings(gateway_url=f"{base}/merchant", public_url=base, hang_seconds=1.5)
    portal, payment, merchant = PortalMock(settings), PaymentMock(settings), FakeMerchant()
    app = build_app(settings, mocks={"portal": portal, "payment": payment})
    app.router.routes.append(Mount("/merchant", app=merchant.asgi()))
    with run_server(app, port):
        yield LiveMocks(base, portal, payment, merchant, settings)
