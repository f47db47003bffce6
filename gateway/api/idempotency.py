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
- Atomic operations (:data:`ATOMIC_OPERATIONS`: the queued ones, whose whole effect is
  one store transaction) take no reservation: the handler's port records the answer IN
  its own transaction through the :class:`AtomicClaim` it gets in its call context, so
  the message and the key's record commit together or not at all (no window where the
  message is stored and the key is not). The handler then sends exactly the recorded
  bytes. A key already used is found in that transaction (:class:`IdempotentReplay`,
  nothing written) and answered as above: ``hit``, ``422`` or ``409``. An answer the
  port did not record (a refusal) is stored afterwards, like any other.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.runtime import ApiRuntime, _answer_recorder
from gateway.api.security import BODY_EXTENSION
from gateway.domain.errors import Conflict, ContractViolation
from gateway.flows.ports import IdempotencyOutcome, IdempotencyPort, JsonObject
from gateway.store.idempotency import request_hash

KEPT_HEADERS = ("content-type", "location")


class IdempotencyKeyReused(ContractViolation):
    code = "idempotency_key_reused"


class IdempotencyKeyInProgress(Conflict):
    code = "idempotency_key_in_progress"


# operationId → the status of its answer; their ports record it (see the module rules)
ATOMIC_OPERATIONS: dict[str, int] = {
    "gateway.api.handlers.dossiers.sync_dossier": 202,
    "gateway.api.handlers.dossiers.push_progress": 202,
}
JSON_HEADERS = {"content-type": "application/json"}


def answer_bytes(answer: Any) -> bytes:
    """The JSON bytes of an answer recorded by an atomic operation (and sent as such)."""
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class IdempotentReplay(Exception):
    """The key was already used; raised inside the operation's transaction, nothing written."""

    def __init__(self, outcome: IdempotencyOutcome) -> None:
        super().__init__(outcome.state)
        self.outcome = outcome


@dataclass
class AtomicClaim:
    """An :class:`~gateway.flows.ports.AnswerRecorder` for one request's key.

    May run more than once (a group-commit batch is re-run when another item of it is
    refused), on the committer's thread; only the handler's return makes it final.
    """

    store: IdempotencyPort
    caller: str
    key: str
    fingerprint: str
    status: int
    body: bytes | None = None  # the recorded answer, once recorded

    def __call__(self, connection: Any, answer: JsonObject) -> None:
        self.body = None
        body = answer_bytes(answer)
        outcome = self.store.record_in(
            connection,
            self.caller,
            self.key,
            self.fingerprint,
            status=self.status,
            body=body,
            headers=JSON_HEADERS,
        )
        if outcome.state != "miss":
            raise IdempotentReplay(outcome)
        self.body = body


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
        status = ATOMIC_OPERATIONS.get(_operation_id(scope) or "")
        if status is not None:
            claim = AtomicClaim(store, caller, key, fingerprint, status)
            try:
                await self._run_atomic(scope, receive, send, claim)
            except IdempotentReplay as replay:
                await _answer(send, replay.outcome)
            return
        outcome: IdempotencyOutcome = await asyncio.wrap_future(
            store.begin_soon(caller, key, fingerprint)
        )
        await _answer(send, outcome)
        if outcome.state == "miss":
            await self._run_and_store(scope, receive, send, store, (caller, key, fingerprint))

    async def _run_atomic(
        self, scope: Scope, receive: Receive, send: Send, claim: AtomicClaim
    ) -> None:
        """Run an atomic operation; store its answer afterwards only if it did not."""
        token = _answer_recorder.set(claim)
        try:
            status = 500
            headers: dict[str, str] = {}
            held: list[Message] = []
            recorded = False

            async def pass_or_hold(message: Message) -> None:
                nonlocal status, recorded
                if message["type"] == "http.response.start":
                    recorded = claim.body is not None  # the handler has returned by now
                    status = int(message["status"])
                    headers.update(_kept(message))
                if recorded:
                    await send(message)
                else:
                    held.append(message)

            await self.app(scope, receive, pass_or_hold)
        finally:
            _answer_recorder.reset(token)
        if recorded:
            return
        if status < 500:
            await asyncio.wrap_future(
                claim.store.save_soon(
                    claim.caller,
                    claim.key,
                    claim.fingerprint,
                    status=status,
                    body=_body_of(held),
                    headers=headers,
                )
            )
        for message in held:
            await send(message)

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
                headers.update(_kept(message))
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
            saved = store.save_soon(
                caller, key, fingerprint, status=status, body=_body_of(held), headers=headers
            )
            await asyncio.wrap_future(saved)
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


async def _answer(send: Send, outcome: IdempotencyOutcome) -> None:
    """Answer a key already used (``miss``: nothing to answer, the caller goes on)."""
    if outcome.state == "miss":
        return
    if outcome.state == "mismatch":
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with a different request.",
            field="header.Idempotency-Key",
        )
    if outcome.state == "hit" and outcome.response is not None:
        await _replay(
            send, outcome.response.status, outcome.response.headers, outcome.response.body
        )
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
