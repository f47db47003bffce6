"""The service ports the API handlers call: one small ``Protocol`` per group of operations.

They live with the flows (the API depends on them, never the reverse: design.md,
"Target shape"). The operations that write to the store are not ports but commands
handled by flow functions, which the handlers call with a unit of work
(``gateway.flows.dossiers``, ``gateway.flows.payments``); :class:`CallbackFlows` and
``gateway.flows.dossiers.DossierFlows`` bundle what those functions are given.

Rules:
- Ports speak the contract's JSON (national field names, ``dict`` in and out): the
  handlers only plumb HTTP, the services behind these ports do the work, and the
  contract's response validation checks what they answer.
- Port methods are synchronous (adapters use ``requests`` and ``zeep``, the store uses
  SQLAlchemy); handlers call them in a worker thread so the event loop never blocks.
- A port raises :class:`gateway.domain.errors.GatewayError` subclasses for every expected
  failure (``NotFound``, ``IllegalTransition``, ``UpstreamTimeout`` ...); the API turns
  them into problems.
- Every method receives the :class:`CallContext` of the request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.flows.acceptor import Signer
from gateway.flows.payments import PaymentFlows
from gateway.store.repositories import UnitOfWork

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class CallContext:
    """Who asked, and how to trace it. ``caller`` is the API key's name (None for callbacks)."""

    correlation_id: str
    caller: str | None
    idempotency_key: str | None
    client_ip: str | None


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


@dataclass(frozen=True)
class CallbackFlows:
    """What the callback handlers' flow functions are given: the portal's push
    (``gateway.flows.dossiers.accept_portal_push``) and the platform's confirm
    (``gateway.flows.payments.confirm_payment``)."""

    units_of_work: Callable[[], UnitOfWork]
    signer: Signer
    payments: PaymentFlows


class PortalPushVerifier(Protocol):
    """Authenticates one portal push (``gateway.flows.portal_push.PortalPushVerifier``)."""

    def check(self, headers: Mapping[str, str], body: bytes) -> str:
        """Check signature, timestamp window and nonce (not spent: the push's unit of work
        spends it); return the nonce.

        Raises :class:`gateway.domain.errors.SignatureInvalid` (answered ``401``).
        """
        ...
