"""Accepting an asynchronous message: sign it, store it with its outbox row, answer at once.

Rules:
- The body is serialized once, here, to compact UTF-8 JSON; those exact bytes are
  signed, stored, published and delivered (the JWS is detached over them).
- Storing is idempotent on the message id: a caller that derives the id from the
  business key (a portal dossier code, a payment reference) gets at most one message
  however often the same event arrives; ``accept`` then returns ``created=False`` —
  also when the repeat carries other bytes (a re-push with edited fields, a payment
  learnt by another path): the first version stands and is the one delivered.
- What the gateway accepted is written to the evidence log (``in``) by the outbox relay,
  in batches, once the broker has it (:func:`acceptance_evidence`): the request path does
  one write transaction for the message, and a crash cannot lose the record (the row stays
  in the outbox until it is written). The envelope's headers carry what that record needs
  (``x-source``, ``x-dossier-code``); they are metadata, not covered by the signature.
- ``accept_soon``'s ``within`` lets a flow check and update its own state in the
  message's transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from gateway.domain.errors import Conflict
from gateway.domain.messages import Envelope, MessageType
from gateway.envelope import EnvelopeSigner
from gateway.futures import then
from gateway.store.evidence import EvidenceEntry
from gateway.store.evidence_format import BodyPolicy
from gateway.store.messages import MessageStore

# a step of a message's transaction: (connection, message id)
Step = Callable[[Connection, str], None]

HEADER_SOURCE = "x-source"
HEADER_DOSSIER = "x-dossier-code"

#: namespace for message ids derived from business keys (uuid5)
MESSAGE_ID_NAMESPACE = uuid.UUID("8f1d3c52-6a0e-4d4b-9a57-2b7f3f0c8e11")


def derived_message_id(kind: str, business_key: str) -> str:
    """A stable message id for an event identified by a business key."""
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, f"{kind}:{business_key}"))


def json_bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Accepted:
    message_id: str
    created: bool


class Acceptor:
    """Signs and stores messages for the relay to publish."""

    def __init__(self, signer: EnvelopeSigner, store: MessageStore) -> None:
        self._signer = signer
        self._store = store

    def accept(
        self,
        message_type: MessageType,
        document: Any,
        *,
        correlation_id: str,
        dossier_code: str | None,
        message_id: str | None = None,
        source: str = "city",
    ) -> Accepted:
        derived = message_id is not None
        envelope = self._envelope(
            message_type, document, correlation_id, dossier_code, message_id, source
        )
        try:
            created = self._store.accept(
                envelope, dossier_code=dossier_code, partner=message_type.recipient
            )
        except Conflict:
            if not derived:
                raise
            return Accepted(envelope.message_id, created=False)
        return Accepted(envelope.message_id, created)

    def accept_soon(
        self,
        message_type: MessageType,
        document: Any,
        *,
        correlation_id: str,
        dossier_code: str | None,
        within: Step,
        source: str = "city",
    ) -> Future[Accepted]:
        """:meth:`accept` for an event loop, with a fresh message id and a ``within`` step:
        signs now, in the caller's thread; the future resolves once the message is
        committed (``MessageStore.accept_soon``), with what :meth:`accept` returns."""
        envelope = self._envelope(
            message_type, document, correlation_id, dossier_code, None, source
        )
        stored = self._store.accept_soon(
            envelope,
            dossier_code=dossier_code,
            partner=message_type.recipient,
            within=_bound(within, envelope.message_id),
        )
        return then(stored, lambda created: Accepted(envelope.message_id, created))

    def _envelope(
        self,
        message_type: MessageType,
        document: Any,
        correlation_id: str,
        dossier_code: str | None,
        message_id: str | None,
        source: str,
    ) -> Envelope:
        headers = {HEADER_SOURCE: source}
        if dossier_code:
            headers[HEADER_DOSSIER] = dossier_code
        return self._signer.sign(
            message_id=message_id or str(uuid.uuid4()),
            type=message_type.value,
            recipient=message_type.recipient,
            body=json_bytes(document),
            correlation_id=correlation_id,
            headers=headers,
        )


def _bound(within: Step, message_id: str) -> Callable[[Connection], None]:
    return lambda connection: within(connection, message_id)


def acceptance_evidence(
    append_many: Callable[[Sequence[EvidenceEntry]], object], policy: BodyPolicy
) -> Callable[[Sequence[Envelope]], None]:
    """The relay's ``on_published``: one ``in`` evidence record per accepted message."""

    def record(envelopes: Sequence[Envelope]) -> None:
        append_many(
            [
                EvidenceEntry(
                    direction="in",
                    partner=envelope.headers.get(HEADER_SOURCE, "unknown"),
                    body=envelope.body,
                    message_id=envelope.message_id,
                    correlation_id=envelope.correlation_id,
                    dossier_code=envelope.headers.get(HEADER_DOSSIER),
                    signature=envelope.jws,
                    body_policy=policy,
                    at=envelope.timestamp,
                )
                for envelope in envelopes
            ]
        )

    return record
