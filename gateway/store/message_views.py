"""What the message store reads and writes, as plain values: events, views, batch items.

Rules: frozen dataclasses only, no I/O; :mod:`gateway.store.messages` turns rows into
these and back. ``EventKind`` is the timeline's vocabulary; ``FAILURE_EVENTS`` are the
events whose detail becomes the message's ``last_error``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum

from sqlalchemy.engine import RowMapping

from gateway.domain.messages import Envelope


class EventKind(StrEnum):
    """What can happen to a message; the timeline's vocabulary."""

    ACCEPTED = "accepted"
    PUBLISHED = "published"
    ATTEMPT_STARTED = "attempt_started"
    ATTEMPT_FAILED = "attempt_failed"
    DELIVERED = "delivered"
    RETRYING = "retrying"
    PARKED = "parked"
    REFUSED = "refused"
    REPLAYED = "replayed"
    REDRIVEN = "redriven"  # published again from the store: its delay tier did not give it back
    FAILED = "failed"


FAILURE_EVENTS = frozenset({"attempt_failed", "retrying", "parked", "refused", "failed"})


@dataclass(frozen=True)
class TimelineEvent:
    """One step in a message's life."""

    at: datetime
    event: str
    status: str | None
    attempt: int | None
    detail: str | None


@dataclass(frozen=True)
class EventRecord:
    """An event to record (batch form of :meth:`MessageStore.record_event`)."""

    message_id: str
    event: str
    status: str | None = None
    detail: str | None = None
    attempt: int | None = None


@dataclass(frozen=True)
class Acceptance:
    """One message to accept (batch form of :meth:`MessageStore.accept`)."""

    envelope: Envelope
    dossier_code: str | None
    partner: str


@dataclass(frozen=True)
class MessageView:
    """What operators and ``GET /v1/messages/{id}`` see of a message."""

    message_id: str
    type: str
    recipient: str
    correlation_id: str
    dossier_code: str | None
    partner: str
    status: str
    attempts: int
    created_at: datetime
    updated_at: datetime
    last_error: str | None
    replay_of: str | None
    headers: dict[str, str] = field(default_factory=dict)
    timeline: tuple[TimelineEvent, ...] = ()


def enum_value(item: str | Enum | None) -> str | None:
    if item is None:
        return None
    return str(item.value) if isinstance(item, Enum) else item


def envelope_of(row: RowMapping) -> Envelope:
    return Envelope(
        message_id=row["id"],
        type=row["type"],
        recipient=row["recipient"],
        correlation_id=row["correlation_id"],
        timestamp=row["created_at"],
        body=bytes(row["body"]),
        jws=row["jws"],
        headers=dict(row["headers"] or {}),
    )


def view_of(row: RowMapping, timeline: tuple[TimelineEvent, ...] = ()) -> MessageView:
    return MessageView(
        message_id=row["id"],
        type=row["type"],
        recipient=row["recipient"],
        correlation_id=row["correlation_id"],
        dossier_code=row["dossier_code"],
        partner=row["partner"],
        status=row["status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_error=row["last_error"],
        replay_of=row["replay_of"],
        headers=dict(row["headers"] or {}),
        timeline=timeline,
    )
