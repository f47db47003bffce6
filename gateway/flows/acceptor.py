"""Accepting an asynchronous message: the signed envelope a flow stores, and its evidence.

Rules:
- The body is serialized once, here, by :func:`compact_json` (the gateway's one
  compact-JSON encoder: also for the answers recorded with an ``Idempotency-Key``), to
  compact UTF-8 JSON; those exact bytes are signed, stored, published and delivered (the
  JWS is detached over them).
- :func:`signed` signs in the caller's thread (CPU only; on the accept path the event
  loop's); the flow then stages the envelope on its unit of work (``uow.messages.add``)
  beside the state it changes and commits both as one transaction.
- A message id is fresh (uuid4) unless derived from a business key
  (:func:`derived_message_id`: a portal dossier code, a payment reference): such a message
  is stored at most once however often its event arrives, and the first version stands
  (``keep_existing``) even when a repeat carries other bytes (a re-push with edited fields,
  a payment learnt by another path).
- What the gateway accepted is written to the evidence log (``in``) by the outbox relay,
  in batches, once the broker has it (:func:`acceptance_evidence`): the request path does
  one write transaction, and a crash cannot lose the record (the row stays in the outbox
  until it is written). The envelope's headers carry what that record needs
  (``x-source``, ``x-dossier-code``); they are metadata, not covered by the signature.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any, Protocol

from gateway.domain.jsonbytes import compact_json
from gateway.domain.messages import Envelope, MessageType
from gateway.store.evidence import EvidenceEntry
from gateway.store.evidence_format import BodyPolicy

HEADER_SOURCE = "x-source"
HEADER_DOSSIER = "x-dossier-code"

#: namespace for message ids derived from business keys (uuid5)
MESSAGE_ID_NAMESPACE = uuid.UUID("8f1d3c52-6a0e-4d4b-9a57-2b7f3f0c8e11")


class Signer(Protocol):
    """Signs envelopes (``gateway.envelope.EnvelopeSigner``)."""

    def sign(
        self,
        *,
        message_id: str,
        type: str | Enum,
        recipient: str,
        body: bytes,
        correlation_id: str,
        headers: Mapping[str, str] | None = None,
        replay: int = 0,
    ) -> Envelope: ...


def derived_message_id(kind: str, business_key: str) -> str:
    """A stable message id for an event identified by a business key."""
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, f"{kind}:{business_key}"))




def signed(
    signer: Signer,
    message_type: MessageType,
    document: Any,
    *,
    correlation_id: str,
    dossier_code: str | None,
    message_id: str | None = None,
    source: str = "city",
) -> Envelope:
    """The signed envelope of ``document`` for ``message_type``'s recipient."""
    headers = {HEADER_SOURCE: source}
    if dossier_code:
        headers[HEADER_DOSSIER] = dossier_code
    return signer.sign(
        message_id=message_id or str(uuid.uuid4()),
        type=message_type.value,
        recipient=message_type.recipient,
        body=compact_json(document),
        correlation_id=correlation_id,
        headers=headers,
    )


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
