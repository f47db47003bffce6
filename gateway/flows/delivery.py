"""Worker handlers: what consuming each message type does.

Rules:
- A handler gets a verified envelope (the worker checked the JWS, the type and the
  recipient, and claimed the message in the ledger) and calls one partner.
- It raises the adapter's errors unchanged: transient ones (timeouts, 5xx, an open
  circuit, a dossier not yet on the portal) make the worker retry; permanent ones
  (a contract violation, a partner's refusal) park the message with the reason.
- A body that does not parse is a contract violation (parked, never retried).
- What it returns is stored as the message's outcome in the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from adapters.city.client import CityEvent
from adapters.city.port import CityDossierSystem
from adapters.http import CallContext
from adapters.portal.port import PortalClient
from adapters.portal.translate import dossier_from_portal, progress_from_portal
from gateway.domain.errors import ContractViolation
from gateway.domain.messages import Envelope, MessageType
from gateway.envelope import replay_count

MessageHandler = Callable[[Envelope], object]


def _json_object(envelope: Envelope) -> dict[str, Any]:
    try:
        document = json.loads(envelope.body)
    except ValueError:
        raise ContractViolation(f"message {envelope.message_id}: body is not JSON") from None
    if not isinstance(document, dict):
        raise ContractViolation(f"message {envelope.message_id}: body is not a JSON object")
    return document


def _context(envelope: Envelope, dossier_code: str) -> CallContext:
    return CallContext(envelope.correlation_id, envelope.message_id, dossier_code)


def portal_handlers(portal: PortalClient) -> dict[str, MessageHandler]:
    def sync(envelope: Envelope) -> dict[str, Any]:
        record = dossier_from_portal(_json_object(envelope), where="body")
        outcome = portal.sync_dossier(record, context=_context(envelope, record.dossier_code))
        return {
            "isUpdating": outcome.updated,
            "previousStatus": None
            if outcome.previous_status is None
            else int(outcome.previous_status),
            **({"overtaken": True} if outcome.overtaken else {}),
        }

    def progress(envelope: Envelope) -> dict[str, Any]:
        record = progress_from_portal(_json_object(envelope), where="body")
        message = portal.push_progress(record, context=_context(envelope, record.dossier_code))
        return {"portalMessage": message[:200]}

    return {
        MessageType.PORTAL_DOSSIER_SYNC.value: sync,
        MessageType.PORTAL_DOSSIER_PROGRESS.value: progress,
    }


def _dossier_code_of(document: Mapping[str, Any]) -> str:
    for key in ("dossier", "payment", "status"):
        inner = document.get(key)
        if isinstance(inner, Mapping) and isinstance(inner.get("MaHoSo"), str):
            return str(inner["MaHoSo"])
    return ""


def city_handlers(city: CityDossierSystem) -> dict[str, MessageHandler]:
    def deliver(envelope: Envelope) -> dict[str, Any]:
        dossier_code = _dossier_code_of(_json_object(envelope))
        event = CityEvent(
            message_id=envelope.message_id,
            type=envelope.type,
            correlation_id=envelope.correlation_id,
            body=envelope.body,
            jws=envelope.jws,
            replay_count=replay_count(envelope.jws),  # the worker verified this JWS
        )
        delivery = city.deliver(event, dossier_code=dossier_code)
        return {"city": delivery.outcome, "httpStatus": delivery.http_status}

    return {
        MessageType.CITY_DOSSIER_SUBMITTED.value: deliver,
        MessageType.CITY_PAYMENT_CONFIRMED.value: deliver,
        MessageType.CITY_DOSSIER_STATUS_CHANGED.value: deliver,
    }
