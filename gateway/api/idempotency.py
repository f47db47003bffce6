"""``Idempotency-Key`` on POST: the same key and body answer the stored response again.

Rules (the records live behind the flows' :class:`~gateway.flows.idempotency.IdempotencyPort`,
keyed by caller and key; this middleware never talks to the store):
- Runs after authentication (the caller's name scopes the keys) and before request
  validation; requests without the header, without a caller, or not POST pass through.
- The fingerprint is :func:`request_hash` over method, path and the exact body bytes
  buffered by the outer middleware.
- A key already used (:class:`~gateway.flows.idempotency.KeyAlreadyUsed`): ``hit`` answers
  the stored status, headers and body again, marked ``Idempotent-Replayed: true``;
  ``mismatch`` is ``422 idempotency_key_reused``; ``in_progress`` is
  ``409 idempotency_key_in_progress``.
- Atomic operations (:data:`ATOMIC_OPERATIONS`: the queued ones, whose whole effect is one
  unit of work) take no reservation: the middleware hands their handler a
  :class:`~gateway.flows.idempotency.KeyedAnswer` (in the scope, :func:`keyed_answer`), the
  handler puts it in its command and the flow records the answer IN the unit of work of
  the effect, so the message and the key's record commit together or not at all. The
  handler answers only once that commit is done, with exactly the recorded bytes. A key
  already used is found in that unit of work (nothing written) and answered as above; a
  refusal is raised, never recorded.
- Any other operation reserves the key first. Only answers its handler returned with a
  status below 500 are stored; an exception or a 5xx releases the reservation so the
  caller may retry. The answer is held back until its record is committed: a client that
  got the answer can retry with the key and get it again.
- Every record is a future of the port's, awaited on the loop (no thread-pool hop).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.runtime import ApiRuntime
from gateway.api.security import BODY_EXTENSION
from gateway.domain.errors import Conflict, ContractViolation
from gateway.flows.idempotency import (
    IdempotencyPort,
    IdempotencyResult,
    KeyAlreadyUsed,
    KeyClaim,
    KeyedAnswer,
    StoredResponse,
)

KEPT_HEADERS = ("content-type", "location")
KEYED_ANSWER_EXTENSION = "tthc_keyed_answer"


class IdempotencyKeyReused(ContractViolation):
    code = "idempotency_key_reused"


class IdempotencyKeyInProgress(Conflict):
    code = "idempotency_key_in_progress"


# operationId → the status of its answer; their flows record it (see the module rules)
ATOMIC_OPERATIONS: dict[str, int] = {
    "gateway.api.handlers.dossiers.sync_dossier": 202,
    "gateway.api.handlers.dossiers.push_progress": 202,
}
JSON_HEADERS = {"content-type": "application/json"}


def request_hash(method: str, path: str, body: bytes) -> str:
    """The request's fingerprint: SHA-256 (hex) over method, path and the exact body bytes."""
    digest = hashlib.sha256()
    digest.update(method.upper().encode() + b"\n" + path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


def keyed_answer(scope: Scope) -> KeyedAnswer | None:
    """The key an atomic operation's handler puts in its command (None: no key to record)."""
    found = scope.get("extensions", {}).get(KEYED_ANSWER_EXTENSION)
    return found if isinstance(found, KeyedAnswer) else None


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
        keys = self.runtime.services.idempotency
        key = _header(scope, b"idempotency-key") if scope["type"] == "http" else None
        caller = _caller(scope) if key else None
        if keys is None or key is None or caller is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        body = scope.get("extensions", {}).get(BODY_EXTENSION, b"")
        claim = KeyClaim(caller, key, request_hash("POST", scope.get("path", ""), body))
        status = ATOMIC_OPERATIONS.get(_operation_id(scope) or "")
        try:
            if status is not None:
                scope.setdefault("extensions", {})[KEYED_ANSWER_EXTENSION] = KeyedAnswer(
                    claim, status, JSON_HEADERS
                )
                await self.app(scope, receive, send)
                return
            await asyncio.wrap_future(keys.reserve_soon(claim))
        except KeyAlreadyUsed as used:
            await _answer(send, used.found)
            return
        await self._run_and_store(scope, receive, send, keys, claim)

    async def _run_and_store(
        self, scope: Scope, receive: Receive, send: Send, keys: IdempotencyPort, claim: KeyClaim
    ) -> None:
        status = 500
        headers: dict[str, str] = {}
        held: list[Message] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers.update(_kept(message))
            held.append(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            await asyncio.wrap_future(keys.release_soon(claim))
            raise
        if status >= 500:
            await asyncio.wrap_future(keys.release_soon(claim))
        else:
            answer = StoredResponse(status, _body_of(held), headers)
            await asyncio.wrap_future(keys.answer_soon(claim, answer))
        for message in held:
            await send(message)


def _kept(start: Message) -> dict[str, str]:
    """The headers of a response start that are stored with its answer."""
    kept: dict[str, str] = {}
    for name, value in start.get("headers", []):
        text = bytes(name).decode("latin-1").lower()
        if text in KEPT_HEADERS:
            kept[text] = bytes(value).decode("latin-1")
    return kept


def _body_of(messages: list[Message]) -> bytes:
    return b"".join(
        bytes(m.get("body", b"")) for m in messages if m["type"] == "http.response.body"
    )


def _operation_id(scope: Scope) -> str | None:
    routing = scope.get("extensions", {}).get("connexion_routing", {})
    operation_id = routing.get("operation_id") if isinstance(routing, dict) else None
    return operation_id if isinstance(operation_id, str) else None


async def _answer(send: Send, found: IdempotencyResult) -> None:
    """Answer a key already used with what its record holds."""
    if found.state == "mismatch":
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with a different request.",
            field="header.Idempotency-Key",
        )
    if found.state == "hit" and found.response is not None:
        await _replay(send, found.response.status, found.response.headers, found.response.body)
        return
    raise IdempotencyKeyInProgress("A request with this Idempotency-Key is still being processed.")


async def _replay(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in headers.items()
        if k.lower() in KEPT_HEADERS
    ]
    raw += [(b"content-length", str(len(body)).encode()), (b"idempotent-replayed", b"true")]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
