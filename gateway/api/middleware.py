"""The outermost API middleware: runtime, correlation id, body limit, metrics.

Rules (pure ASGI, no BaseHTTPMiddleware, so context variables flow to the handlers):
- Binds the app's :class:`ApiRuntime` and the correlation id for the request
  (:func:`gateway.api.runtime.bound_to`).
- ``X-Correlation-ID``: taken from the request when it matches
  ``[A-Za-z0-9._:-]{8,128}``, else a new UUID; bound in structlog's context variables and
  put on EVERY response, problems included.
- Body limit: a ``Content-Length`` above ``max_body_bytes`` is refused before reading;
  a chunked body is counted as it is read. Either way: a ``413`` problem. The body (at
  most the limit) is buffered, kept byte-exact in the scope for signature checks, and
  replayed to the app.
- Metrics: one observation per request, labelled with the routed operation.
- Errors raised here are answered here as problems (connexion's handlers sit inside).
- Nothing is parsed here: a JSON body is parsed once, inside connexion's body validator,
  by :func:`gateway.api.json_guard.parse_guarded` (depth, text and number rules).
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.problems import PROBLEM_MEDIA_TYPE, encode, problem_body
from gateway.api.runtime import ApiRuntime, bound_to
from gateway.api.security import BODY_EXTENSION

CORRELATION_HEADER = b"x-correlation-id"
_VALID_CORRELATION = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def correlation_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == CORRELATION_HEADER:
            candidate: str = bytes(value).decode("latin-1")
            if _VALID_CORRELATION.fullmatch(candidate):
                return candidate
            break
    return str(uuid.uuid4())


class _TooLarge(Exception):
    pass


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, runtime: ApiRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = correlation_id_from(scope)
        with bound_to(self.runtime, correlation_id):
            await self._serve(scope, receive, send, correlation_id)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, correlation_id: str) -> None:
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        started = time.perf_counter()
        answered = {"status": 500}

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = int(message["status"])
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != CORRELATION_HEADER
                ]
                headers.append((CORRELATION_HEADER, correlation_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            limit = self.runtime.services.max_body_bytes
            try:
                body = await self._read_body(scope, receive, limit)
            except _TooLarge:
                await self._too_large(scope, send_with_header, correlation_id, limit)
                return
            scope.setdefault("extensions", {})[BODY_EXTENSION] = body
            await self.app(scope, _replay(body, receive), send_with_header)
        finally:
            operation_id = (
                scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
            )
            self.runtime.metrics.observe(
                operation_id,
                scope.get("method", ""),
                answered["status"],
                time.perf_counter() - started,
            )
            structlog.contextvars.unbind_contextvars("correlation_id")

    @staticmethod
    async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > limit:
                        raise _TooLarge
                except ValueError:
                    pass
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    async def _too_large(scope: Scope, send: Send, correlation_id: str, limit: int) -> None:
        body = encode(
            problem_body(
                413,
                code="payload_too_large",
                detail=f"The request body exceeds {limit} bytes.",
                instance=scope.get("path"),
                correlation_id=correlation_id,
            )
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
