"""Serve every partner mock together: one ASGI app, one partner per path prefix.

Prefixes (design.md): ``/portal``, ``/payment``, ``/population``, ``/warehouse``, ``/city``;
and ``/tsa``, the RFC 3161 time-stamping authority the evidence log's checkpoints use.
Each partner package exposes ``mocks.<partner>.app.create_mock(settings) -> PartnerMock``;
a partner whose package is not there yet is skipped (logged), never fatal. ``GET /`` lists
the mounted partners. A partner's bare prefix (``POST /tsa``) is its root (``/tsa/``), not
a redirect: RFC 3161 clients post to the URL exactly as configured. ``tthc-gateway mocks``
calls :func:`serve`.
"""

from __future__ import annotations

import importlib
import logging

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mocks.framework import PartnerMock, asgi_app
from mocks.settings import MockSettings

PARTNERS = ("portal", "payment", "population", "warehouse", "city", "tsa")
log = logging.getLogger("mocks.server")


class _AtRoot:
    """Serve ``app`` (a partner mounted under its prefix) for the bare prefix as ``/``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app({**scope, "path": "/", "raw_path": b"/"}, receive, send)


def create_mocks(settings: MockSettings) -> dict[str, PartnerMock]:
    """Instantiate every available partner mock, keyed by its path prefix (no slash)."""
    mocks: dict[str, PartnerMock] = {}
    for partner in PARTNERS:
        module_name = f"mocks.{partner}.app"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                log.warning("mock %s not available yet (%s): not mounted", partner, exc)
                continue
            raise
        mocks[partner] = module.create_mock(settings)
    return mocks


def build_app(
    settings: MockSettings | None = None, mocks: dict[str, PartnerMock] | None = None
) -> Starlette:
    """The ASGI app serving every partner under its prefix (``mocks`` overrides creation)."""
    settings = settings or MockSettings()
    partner_mocks = mocks if mocks is not None else create_mocks(settings)

    async def index(request: Request) -> JSONResponse:
        return JSONResponse(
            {"mocks": {prefix: f"/{prefix}" for prefix in partner_mocks}, "status": "ok"}
        )

    routes: list[BaseRoute] = [Route("/", index)]
    for prefix, mock in partner_mocks.items():
        app = asgi_app(mock, hang_seconds=settings.hang_seconds)
        routes.append(Route(f"/{prefix}", _AtRoot(app), methods=["GET", "POST"]))
        routes.append(Mount(f"/{prefix}", app=app))
    app = Starlette(routes=routes)
    app.state.mocks = partner_mocks
    return app


def serve(settings: MockSettings | None = None, host: str = "127.0.0.1", port: int = 8090) -> None:
    """Run every mock on ``host:port`` with uvicorn until interrupted."""
    uvicorn.run(build_app(settings), host=host, port=port, log_level="info")
