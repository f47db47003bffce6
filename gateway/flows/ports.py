"""The service ports the API handlers call: one small ``Protocol`` per group of operations.

They live with the flows (the API depends on them, never the reverse: design.md,
"Target shape").

Rules:
- Ports speak the contract's JSON (national field names, ``dict`` in and out): the
  handlers only plumb HTTP, the services behind these ports do the work, and the
  contract's response validation checks what they answer.
- Port methods are synchronous (adapters use ``requests`` and ``zeep``, the store uses
  SQLAlchemy); handlers call them in a worker thread so the event loop never blocks.
  The exception: ``*_soon`` methods run on the loop, do only short CPU work there and
  answer a :class:`~concurrent.futures.Future` of the rest (see :class:`DossierPort`).
- A port raises :class:`gateway.domain.errors.GatewayError` subclasses for every expected
  failure (``NotFound``, ``IllegalTransition``, ``UpstreamTimeout`` ...); the API turns
  them into problems.
- Every method receives the :class:`CallContext` of the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

JsonObject = dict[str, Any]


class AnswerRecorder(Protocol):
    """Records an operation's answer in the operation's own store transaction.

    Given to the ports of operations whose whole effect is one transaction of the store
    (the queued ones) when the request carries an ``Idempotency-Key``: the port calls it
    inside that transaction with the connection and the answer it is about to return, so
    the key and the effect commit together. It raises when the key was already used
    (the transaction must then roll back; the API answers from the stored record).
    ``body`` holds the recorded answer's bytes once recorded (what the API then sends).
    """

    body: bytes | None

    def __call__(self, connection: Any, answer: JsonObject) -> None: ...


@dataclass(frozen=True)
class CallContext:
    """Who asked, and how to trace it. ``caller`` is the API key's name (None for callbacks).

    ``record_answer``: see :class:`AnswerRecorder` (None: nothing to record).
    """

    correlation_id: str
    caller: str | None
    idempotency_key: str | None
    client_ip: str | None
    record_answer: AnswerRecorder | None = None


class DossierPort(Protocol):
    """The queued operations are called ON the event loop: they check and sign at once
    (short, CPU only) and hand the write over, answering a future resolved once the
    message is committed (no worker thread waits for the store)."""

    def sync_dossier_soon(self, record: Mapping[str, Any], ctx: CallContext) -> Future[JsonObject]:
        """Record a ``portal.dossier.sync`` message; answer ``{messageId, status}``."""
        ...

    def push_progress_soon(
        self, dossier_code: str, progress: Mapping[str, Any], ctx: CallContext
    ) -> Future[JsonObject]:
        """Record a ``portal.dossier.progress`` message; answer ``{messageId, status}``."""
        ...

    def portal_status(self, dossier_code: str, ctx: CallContext) -> JsonObject:
        """What the portal holds for the dossier (``PortalStatus``)."""
        ...


class ProcedurePort(Protocol):
    def get_procedure(self, procedure_code: str, ctx: CallContext) -> JsonObject: ...


class CitizenPort(Protocol):
    def lookup(self, query: Mapping[str, Any], ctx: CallContext) -> JsonObject: ...

    def verify(self, query: Mapping[str, Any], ctx: CallContext) -> JsonObject: ...


class PaymentPort(Protocol):
    def create(self, request: Mapping[str, Any], ctx: CallContext) -> JsonObject: ...

    def status(self, reference: str, ctx: CallContext) -> JsonObject: ...

    def receipt(self, reference: str, ctx: CallContext) -> bytes:
        """The receipt PDF's bytes."""
        ...


class DocumentPort(Protocol):
    def search(self, query: Mapping[str, Any], ctx: CallContext) -> JsonObject: ...

    def fetch(self, request: Mapping[str, Any], ctx: CallContext) -> JsonObject: ...


class MessagePort(Protocol):
    def status(self, message_id: str, ctx: CallContext) -> JsonObject:
        """``MessageStatus`` of one message."""
        ...

    def search(
        self, filters: Mapping[str, Any], limit: int, offset: int, ctx: CallContext
    ) -> JsonObject:
        """One ``MessagePage``; ``filters`` holds the given keys of ``MessageFilter``."""
        ...

    def detail(self, message_id: str, ctx: CallContext) -> JsonObject: ...

    def replay(self, message_id: str, reason: str, ctx: CallContext) -> JsonObject: ...

    def bulk_replay(self, request: Mapping[str, Any], ctx: CallContext) -> JsonObject: ...


class CallbackPort(Protocol):
    def portal_dossier_submitted(self, record: Mapping[str, Any], ctx: CallContext) -> JsonObject:
        """Record a ``city.dossier.submitted`` message (once per dossier); ``{messageId, status}``."""
        ...

    def payment_confirmed(self, confirm: Mapping[str, Any], ctx: CallContext) -> JsonObject:
        """Check ``MaXacThuc``, reference, amount, duplicates; answer ``PaymentConfirmAnswer``."""
        ...


class PortalPushVerifier(Protocol):
    """Authenticates one portal push (``gateway.flows.portal_push.PortalPushVerifier``)."""

    def verify(self, headers: Mapping[str, str], body: bytes) -> str:
        """Check signature, timestamp window and nonce; return the nonce.

        Raises :class:`gateway.domain.errors.SignatureInvalid` (answered ``401``).
        """
        ...

    def check(self, headers: Mapping[str, str], body: bytes) -> str:
        """As :meth:`verify`, recording nothing (the nonce is spent once the body is valid)."""
        ...

    def spend(self, nonce: str) -> None:
        """Record the nonce as used (``SignatureInvalid`` ``nonce_reused`` if it was)."""
        ...

    def release(self, nonce: str) -> None:
        """Forget a spent nonce: its push was not accepted."""
        ...


class IdempotencyOutcome(Protocol):
    """What :class:`IdempotencyPort` answers (``gateway.store.idempotency.IdempotencyResult``)."""

    @property
    def state(self) -> str:
        """``miss`` (the key is now yours), ``hit``, ``mismatch`` or ``in_progress``."""
        ...

    @property
    def response(self) -> StoredAnswer | None: ...


class StoredAnswer(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def body(self) -> bytes: ...

    @property
    def headers(self) -> dict[str, str]: ...


class IdempotencyPort(Protocol):
    """The ``Idempotency-Key`` records (``gateway.store.idempotency.IdempotencyStore``)."""

    def begin(self, caller: str, key: str, request_hash: str) -> IdempotencyOutcome: ...

    def begin_soon(self, caller: str, key: str, request_hash: str) -> Future[Any]:
        """``begin`` handed over; resolves to an :class:`IdempotencyOutcome` once committed.

        (``Future`` is invariant, hence ``Any``: the store's future is of its own result.)
        """
        ...

    def save_soon(
        self,
        caller: str,
        key: str,
        request_hash: str,
        *,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> Future[None]:
        """``save`` handed over; the future resolves once the answer is committed."""
        ...

    def save(
        self,
        caller: str,
        key: str,
        request_hash: str,
        *,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None: ...

    def abandon(self, caller: str, key: str, request_hash: str) -> None: ...

    def record_in(
        self,
        connection: Any,
        caller: str,
        key: str,
        request_hash: str,
        *,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> IdempotencyOutcome:
        """Record the answer in the operation's own transaction (``miss``: recorded now)."""
        ...
