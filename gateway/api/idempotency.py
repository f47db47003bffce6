"""``Idempotency-Key`` on POST: the same key and body answer the stored response again.

Rules (the records live behind :class:`IdempotencyPort`, keyed by caller and key):
- Runs after authentication (the caller's name scopes the keys) and before request
  validation; requests without the header, without a caller, or not POST pass through.
- The fingerprint is ``gateway.store.idempotency.request_hash`` over method, path and
  the exact body bytes buffered by the outer middleware.
- ``hit``: the stored status, headers and body are answered again, marked
  ``Idempotent-Replayed: true``; ``mismatch``: ``422 idempotency_key_reused``;
  ``in_progress``: ``409 idempotency_key_in_progress``.
- Only answers the handler returned with a status below 500 are stored; an exception or
  a 5xx abandons the reservation so the caller may retry.
- The answer is held back until its record is committed: a client that got the answer
  can retry with the key and get it again (on SQLite the record shares a group-commit
  transaction with concurrent requests' writes; see ``gateway.store.group_commit``).
- ``begin``/``save`` are handed to the store as futures (``begin_soon``/``save_soon``)
  awaited on the loop, no thread-pool hop; ``abandon`` (rare) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.ports import IdempotencyOutcome, IdempotencyPort
from gateway.api.runtime import ApiRuntime
from gateway.api.security import BODY_EXTENSION
from gateway.domain.errors import Conflict, ContractViolation
from gateway.store.idempotency import request_hash

KEPT_HEADERS = ("content-type", "location")


class IdempotencyKeyReused(ContractViolation):
    code = "idempotency_key_reused"


class IdempotencyKeyInProgress(Conflict):
    code = "idempotency_key_in_progress"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _caller(scope: Scope) -> str | None:
    context: Any = scope.get("extensions", {}).get("connexion_context", {})
    token_info = context.get("token_info") if isinstance(context, dict) else None
    caller = token_info.get("caller") if isinstance(token_info, dict) else None
    return caller if isinstance(caller, str) else None


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, runtime: ApiRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        store = self.runtime.services.idempotency
        key = _header(scope, b"idempotency-key") if scope["type"] == "http" else None
        caller = _caller(scope) if key else None
        if store is None or key is None or caller is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        body = scope.get("extensions", {}).get(BODY_EXTENSION, b"")
        fingerprint = request_hash("POST", scope.get("path", ""), body)
        outcome: IdempotencyOutcome = await asyncio.wrap_future(
            store.begin_soon(caller, key, fingerprint)
        )
        if outcome.state == "mismatch":
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used with a different request.",
                field="header.Idempotency-Key",
            )
        if outcome.state == "in_progress":
            raise IdempotencyKeyInProgress(
                "A request with this Idempotency-Key is still being processed."
            )
        if outcome.state == "hit" and outcome.response is not None:
            await _replay(
                send, outcome.response.status, outcome.response.headers, outcome.response.body
            )
            return
        await self._run_and_store(scope, receive, send, store, (caller, key, fingerprint))

    async def _run_and_store(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        store: IdempotencyPort,
        record: tuple[str, str, str],
    ) -> None:
        status = 500
        headers: dict[str, str] = {}
        held: list[Message] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    text = bytes(name).decode("latin-1").lower()
                    if text in KEPT_HEADERS:
                        headers[text] = bytes(value).decode("latin-1")
            held.append(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            await run_in_threadpool(store.abandon, *record)
            raise
        if status >= 500:
            await run_in_threadpool(store.abandon, *record)
        else:
            caller, key, fingerprint = record
            body = b"".join(
                bytes(m.get("body", b"")) for m in held if m["type"] == "http.response.body"
            )
            saved = store.save_soon(
                caller, key, fingerprint, status=status, body=body, headers=headers
            )
            await asyncio.wrap_future(saved)
        for message in held:
            await send(message)


async def _replay(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in headers.items()
        if k.lower() in KEPT_HEADERS
    ]
    raw += [(b"content-length", str(len(body)).encode()), (b"idempotent-replayed", b"true")]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
