"""Accepting an asynchronous message: sign it, store it with its outbox row, answer at once.

Rules:
- The body is serialized once, here, to compact UTF-8 JSON; those exact bytes are
  signed, stored, published and delivered (the JWS is detached over them).
- Storing is idempotent on the message id: a caller that derives the id from the
  business key (a portal dossier code, a payment reference) gets at most one message
  however often the same event arrives; ``accept`` then returns ``created=False`` —
  also when the repeat carries other bytes (a re-push with edited fields, a payment
  learnt by another path): the first version stands and is the one delivered.
- What the gateway accepted is also written to the evidence log (``in``), bodies with
  personal data encrypted (the evidence policy is the recorder's).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from gateway.domain.errors import Conflict
from gateway.domain.exchange import Exchange, ExchangeRecorder
from gateway.domain.messages import MessageType
from gateway.envelope import EnvelopeSigner
from gateway.store.messages import MessageStore

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

    def __init__(
        self, signer: EnvelopeSigner, store: MessageStore, recorder: ExchangeRecorder
    ) -> None:
        self._signer = signer
        self._store = store
        self._recorder = recorder

    def accept(
        self,
        message_type: MessageType,
        document: Any,
        *,
        correlation_id: str,
        dossier_code: str | None,
        message_id: str | None = None,
        source: str = "city",
        personal: bool = True,
    ) -> Accepted:
        body = json_bytes(document)
        derived = message_id is not None
        message_id = message_id or str(uuid.uuid4())
        envelope = self._signer.sign(
            message_id=message_id,
            type=message_type.value,
            recipient=message_type.recipient,
            body=body,
            correlation_id=correlation_id,
        )
        try:
            created = self._store.accept(
                envelope, dossier_code=dossier_code, partner=message_type.recipient
            )
        except Conflict:
            if not derived:
                raise
            return Accepted(message_id, created=False)
        if created:
            self._recorder.record(
                Exchange(
                    partner=source,
                    operation=f"accept:{message_type.value}",
                    direction="in",
                    body=body,
                    correlation_id=correlation_id,
                    message_id=message_id,
                    dossier_code=dossier_code or "",
                    personal=personal,
                )
            )
        return Accepted(message_id, created)
