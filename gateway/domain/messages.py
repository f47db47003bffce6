"""Message types and the envelope every asynchronous message travels in.

Rules:
- The body is JSON bytes, kept byte-exact from acceptance to delivery: the
  signature is a detached JWS over exactly these bytes.
- ``type`` is the routing key on the ``tthc`` exchange and names one queue.
- ``recipient`` is the partner the message is meant for; the JWS binds it, and a
  consumer refuses a message whose recipient or type is not the one it serves.
- Envelopes are immutable; a replay is a new envelope carrying ``replay_of``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class MessageType(StrEnum):
    """Routing keys. Outbound to the portal; inbound to the city system."""

    PORTAL_DOSSIER_SYNC = "portal.dossier.sync"
    PORTAL_DOSSIER_PROGRESS = "portal.dossier.progress"
    CITY_DOSSIER_SUBMITTED = "city.dossier.submitted"
    CITY_PAYMENT_CONFIRMED = "city.payment.confirmed"
    CITY_DOSSIER_STATUS_CHANGED = "city.dossier.status_changed"

    @property
    def recipient(self) -> str:
        """The partner a message of this type is delivered to (``portal`` or ``city``)."""
        return self.value.split(".", 1)[0]


class MessageStatus(StrEnum):
    """Where a message stands, as ``GET /v1/messages/{id}`` reports it."""

    ACCEPTED = "accepted"
    PUBLISHED = "published"
    DELIVERED = "delivered"
    RETRYING = "retrying"
    PARKED = "parked"
    REPLAYED = "replayed"  # an operator sent a parked message again (then delivered, ...)
    FAILED = "failed"


@dataclass(frozen=True)
class Envelope:
    """One signed message as it crosses the broker.

    ``jws`` is the detached compact JWS (``header..signature``) over ``body``.
    ``headers`` carries transport extras (attempt count, ``replay_of``, parking reason).
    """

    message_id: str
    type: str
    recipient: str
    correlation_id: str
    timestamp: datetime
    body: bytes
    jws: str
    headers: dict[str, str] = field(default_factory=dict)
