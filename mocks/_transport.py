"""The two transports that serve a :class:`~mocks.framework.PartnerMock`.

- :func:`asgi_app` wraps a mock in a Starlette app (mounted under its partner prefix by
  ``mocks.server``). Handlers run in a worker thread (they may call out, e.g. the payment
  mock's confirm callback); latency faults ``await asyncio.sleep``; a timeout fault sleeps
  ``hang_seconds`` (past any sane client timeout) and then answers 504.
- :func:`register_responses` routes every ``requests`` call under ``base_url`` into the same
  ``mock.handle`` through the ``responses`` library. Latency is slept for real, unless it
  exceeds the caller's ``timeout=`` (then ``ReadTimeout`` is raised, as it would be over
  the wire); a timeout fault raises ``requests.exceptions.ReadTimeout`` at once.

Use ``responses.RequestsMock(assert_all_requests_are_fired=False)``: one callback is
registered per HTTP method and a test rarely uses them all.

Rules: one implementation (``mock.handle``) serves both; request bodies over
``MAX_BODY_BYTES`` are refused with 413 before reaching the mock.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import requests
import responses
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mocks._messages import MockRequest, MockResponse

if TYPE_CHECKING:
    from mocks.framework import PartnerMock

MAX_BODY_BYTES = 8 * 1024 * 1024
HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


def asgi_app(mock: PartnerMock, *, hang_seconds: float = 60.0) -> ASGIApp:
    """A Starlette app serving ``mock`` at its root (mount it under the partner prefix)."""

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return Response(b"request body too large", status_code=413)
        mock_request = MockRequest(
            method=request.method.upper(),
            path="/" + request.path_params.get("path", ""),
            query=dict(request.query_params),
            headers={key.lower(): value for key, value in request.headers.items()},
            body=body,
        )
        answer: MockResponse = await run_in_threadpool(mock.handle, mock_request)
        if answer.delay_ms:
            await asyncio.sleep(answer.delay_ms / 1000)
        if answer.hang:
            await asyncio.sleep(hang_seconds)
        return Response(answer.body, status_code=answer.status, headers=dict(answer.headers))

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=HTTP_METHODS)])


def _client_timeout(prepared: requests.PreparedRequest) -> float | None:
    kwargs: dict[str, Any] = getattr(prepared, "req_kwargs", {}) or {}
    timeout = kwargs.get("timeout")
    if isinstance(timeout, tuple):
        timeout = timeout[1]
    return float(timeout) if isinstance(timeout, int | float) else None


def register_responses(rsps: responses.RequestsMock, base_url: str, mock: PartnerMock) -> None:
    """Route every ``requests`` call under ``base_url`` into ``mock.handle``."""
    base = base_url.rstrip("/")
    base_path = urlsplit(base).path
    url_pattern = re.compile("^" + re.escape(base) + r"(/[^?#]*)?(\?.*)?$")

    def callback(prepared: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(prepared.url or "")
        relative = parts.path[len(base_path) :] or "/"
        raw_body = prepared.body or b""
        body = raw_body.encode("utf-8") if isinstance(raw_body, str) else bytes(raw_body)
        mock_request = MockRequest(
            method=(prepared.method or "GET").upper(),
            path=relative,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={key.lower(): value for key, value in prepared.headers.items()},
            body=body,
        )
        answer = mock.handle(mock_request)
        timeout = _client_timeout(prepared)
        if answer.hang:
            raise requests.exceptions.ReadTimeout(f"mock {mock.name}: injected timeout")
        if answer.delay_ms:
            delay = answer.delay_ms / 1000
            if timeout is not None and delay >= timeout:
                time.sleep(timeout)
                raise requests.exceptions.ReadTimeout(
                    f"mock {mock.name}: latency {answer.delay_ms} ms exceeds timeout {timeout} s"
                )
            time.sleep(delay)
        return answer.status, dict(answer.headers), answer.body

    for method in HTTP_METHODS:
        rsps.add_callback(method, url_pattern, callback=callback, content_type=None)
