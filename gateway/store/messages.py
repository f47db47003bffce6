"""The message store: messages, their timeline, and the transactional outbox.

What it is for: a message is accepted by writing the message, its outbox row and the
``accepted`` event in ONE transaction (:func:`insert_accepted`: a unit of work's step,
``gateway.store.unit_of_work``, or :meth:`MessageStore.accept_many`); the relay publishes
what the outbox holds; workers record each step of delivery on the timeline; operators
list and inspect.

Rules:
- Accepting is idempotent on the message id: accepting the same envelope again does
  nothing; a *different* body under an existing id raises Conflict, unless the caller
  keeps the existing one (``keep_existing``: ids derived from a business key, where the
  first version stands and is the one delivered).
- The outbox is a work list with leases: :meth:`MessageStore.pending_outbox` hands out
  rows whose ``available_at`` has passed and pushes it ``lease`` ahead, so two relays do
  not publish the same row at once, and a relay that died mid-publish is covered when
  the lease runs out (at-least-once: consumers deduplicate with the ledger).
  :meth:`MessageStore.mark_published` deletes the rows and records ``published``.
- The timeline (``message_events``) is append-only. An event may move the message's
  status; failure events also set ``last_error``; ``attempt`` raises ``attempts``.
- ``due_at`` (when a delay tier gives a message back) is written with a batch's events and
  read for the re-drive: :mod:`gateway.store.due`.
- Bodies are stored byte-exact (the signature covers them); listing never loads them.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Engine, and_, bindparam, delete, func, select, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gateway.domain.errors import Conflict
from gateway.domain.messages import Envelope, MessageStatus
from gateway.store.db import read_tx, utcnow, write_tx
from gateway.store.due import Overdue, claim_overdue, write_due
from gateway.store.message_views import (
    FAILURE_EVENTS,
    Acceptance,
    EventKind,
    EventRecord,
    MessageView,
    TimelineEvent,
    enum_value,
    envelope_of,
    view_of,
)
from gateway.store.prepared import Prepared
from gateway.store.schema import message_events, messages, outbox

__all__ = [
    "FAILURE_EVENTS",
    "Acceptance",
    "EventKind",
    "EventRecord",
    "MessageStore",
    "MessageView",
    "TimelineEvent",
]

_VIEW_COLUMNS = [c for c in messages.c if c.name != "body"]
# built once: the accept path runs it per request
_EXISTING = select(messages.c.id, messages.c.body).where(
    messages.c.id.in_(bindparam("ids", expanding=True))
)
# the accept path's statements, run on the driver (see gateway.store.prepared)
_EXISTING_ONE = Prepared(select(messages.c.body).where(messages.c.id == bindparam("b_id")))
_INSERT_MESSAGES = Prepared(messages.insert())
_INSERT_OUTBOX = Prepared(outbox.insert())
_INSERT_EVENTS = Prepared(message_events.insert())


def _existing_bodies(connection: Connection, ids: list[str]) -> dict[str, bytes]:
    """The stored bodies of those of ``ids`` already accepted."""
    if len(ids) == 1:  # the API's accept: one message, on the driver
        body = _EXISTING_ONE.scalar(connection, {"b_id": ids[0]})
        return {} if body is None else {ids[0]: bytes(body)}
    return {row.id: bytes(row.body) for row in connection.execute(_EXISTING, {"ids": ids})}


def insert_accepted(
    connection: Connection, by_id: Mapping[str, Acceptance], *, keep_existing: bool = False
) -> int:
    """In the caller's write transaction: record each message not stored yet, with its
    outbox row and ``accepted`` event; returns how many were new (see the module rules)."""
    now = utcnow()
    existing = _existing_bodies(connection, list(by_id))
    for message_id, body in existing.items():
        if body != by_id[message_id].envelope.body and not keep_existing:
            raise Conflict(f"message {message_id}: already accepted with another body")
    fresh = [item for mid, item in by_id.items() if mid not in existing]
    if not fresh:
        return 0
    _INSERT_MESSAGES.execute_many(
        connection,
        [
            {
                "id": item.envelope.message_id,
                "type": item.envelope.type,
                "recipient": item.envelope.recipient,
                "correlation_id": item.envelope.correlation_id,
                "dossier_code": item.dossier_code,
                "partner": item.partner,
                "status": MessageStatus.ACCEPTED.value,
                "attempts": 0,
                "body": item.envelope.body,
                "jws": item.envelope.jws,
                "headers": dict(item.envelope.headers),
                "created_at": item.envelope.timestamp,
                "updated_at": now,
                "last_error": None,
                "replay_of": item.envelope.headers.get("replay_of"),
            }
            for item in fresh
        ],
    )
    _INSERT_OUTBOX.execute_many(
        connection,
        [
            {"message_id": item.envelope.message_id, "created_at": now, "available_at": now}
            for item in fresh
        ],
    )
    _INSERT_EVENTS.execute_many(
        connection,
        [
            {
                "message_id": item.envelope.message_id,
                "at": now,
                "event": EventKind.ACCEPTED.value,
                "status": MessageStatus.ACCEPTED.value,
                "attempt": None,
                "detail": item.envelope.headers.get("replay_of")
                and f"replay of {item.envelope.headers['replay_of']}",
            }
            for item in fresh
        ],
    )
    return len(fresh)


class MessageStore:
    """Messages, timeline and outbox on one engine (see the module rules)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- accepting ---------------------------------------------------------------

    def accept(self, envelope: Envelope, *, dossier_code: str | None, partner: str) -> bool:
        """Record a new message, its outbox row and ``accepted``, atomically.

        Returns True when recorded now, False when this exact message was already there.
        """
        return self.accept_many([Acceptance(envelope, dossier_code, partner)]) == 1

    def accept_many(self, items: Sequence[Acceptance]) -> int:
        """Accept a batch in one transaction; returns how many were new."""
        if not items:
            return 0
        by_id: dict[str, Acceptance] = {}
        for item in items:
            previous = by_id.get(item.envelope.message_id)
            if previous is not None and previous.envelope.body != item.envelope.body:
                raise Conflict(f"message {item.envelope.message_id}: two bodies in one batch")
            by_id[item.envelope.message_id] = item
        try:
            with write_tx(self.engine) as connection:
                return insert_accepted(connection, by_id)
        except IntegrityError:
            # A concurrent writer inserted one of these ids between our check and insert.
            with write_tx(self.engine) as connection:
                return insert_accepted(connection, by_id)

    # -- outbox ------------------------------------------------------------------

    def pending_outbox(
        self, limit: int = 100, *, lease: timedelta = timedelta(seconds=30)
    ) -> list[Envelope]:
        """Up to ``limit`` unpublished envelopes, oldest first, leased for ``lease``."""
        now = utcnow()
        with write_tx(self.engine) as connection:
            due = (
                select(outbox.c.message_id)
                .where(outbox.c.available_at <= now)
                .order_by(outbox.c.created_at)
                .limit(limit)
            )
            if connection.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ids = list(connection.execute(due).scalars())
            if not ids:
                return []
            connection.execute(
                update(outbox).where(outbox.c.message_id.in_(ids)).values(available_at=now + lease)
            )
            rows = connection.execute(select(messages).where(messages.c.id.in_(ids))).mappings()
            found = {row["id"]: envelope_of(row) for row in rows}
        return [found[mid] for mid in ids if mid in found]

    def mark_published(self, message_ids: Iterable[str]) -> None:
        """Remove published rows from the outbox and record ``published`` (one transaction)."""
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return
        now = utcnow()
        with write_tx(self.engine) as connection:
            gone = connection.execute(
                delete(outbox).where(outbox.c.message_id.in_(ids)).returning(outbox.c.message_id)
            ).scalars()
            published = list(gone)
            if not published:
                return
            connection.execute(
                update(messages)
                .where(
                    and_(
                        messages.c.id.in_(published),
                        messages.c.status == MessageStatus.ACCEPTED.value,
                    )
                )
                .values(status=MessageStatus.PUBLISHED.value, updated_at=now)
            )
            connection.execute(
                message_events.insert(),
                [
                    {
                        "message_id": mid,
                        "at": now,
                        "event": EventKind.PUBLISHED.value,
                        "status": MessageStatus.PUBLISHED.value,
                        "attempt": None,
                        "detail": None,
                    }
                    for mid in published
                ],
            )

    # -- timeline ----------------------------------------------------------------

    def record_event(
        self,
        message_id: str,
        event: str | EventKind,
        *,
        status: str | MessageStatus | None = None,
        detail: str | None = None,
        attempt: int | None = None,
    ) -> None:
        """Append one event; see the module rules for its effect on the message row."""
        self.record_events(
            [EventRecord(message_id, str(enum_value(event)), enum_value(status), detail, attempt)]
        )

    def record_events(
        self, events: Sequence[EventRecord], *, due: Mapping[str, datetime] | None = None
    ) -> None:
        """Append many events in one transaction (for worker throughput); ``due`` sets
        ``due_at`` of those message ids in the same transaction (:mod:`gateway.store.due`)."""
        if not events and not due:
            return
        now = utcnow()
        with write_tx(self.engine) as connection:
            write_due(connection, due or {})
            if not events:
                return
            connection.execute(
                message_events.insert(),
                [
                    {
                        "message_id": e.message_id,
                        "at": now,
                        "event": enum_value(e.event),
                        "status": enum_value(e.status),
                        "attempt": e.attempt,
                        "detail": e.detail,
                    }
                    for e in events
                ],
            )
            for e in events:
                values: dict[str, Any] = {"updated_at": now}
                if e.status is not None:
                    values["status"] = enum_value(e.status)
                if e.attempt is not None:
                    values["attempts"] = (
                        func.max(messages.c.attempts, e.attempt)
                        if (connection.dialect.name == "sqlite")
                        else func.greatest(messages.c.attempts, e.attempt)
                    )
                if enum_value(e.event) in FAILURE_EVENTS and e.detail is not None:
                    values["last_error"] = e.detail
                if len(values) > 1:
                    connection.execute(
                        update(messages).where(messages.c.id == e.message_id).values(**values)
                    )

    # -- reading -----------------------------------------------------------------

    def get(self, message_id: str) -> MessageView | None:
        """The message with its full timeline, or None."""
        with read_tx(self.engine) as connection:
            row = (
                connection.execute(select(*_VIEW_COLUMNS).where(messages.c.id == message_id))
                .mappings()
                .first()
            )
            if row is None:
                return None
            events = connection.execute(
                select(message_events)
                .where(message_events.c.message_id == message_id)
                .order_by(message_events.c.id)
            ).mappings()
            timeline = tuple(
                TimelineEvent(e["at"], e["event"], e["status"], e["attempt"], e["detail"])
                for e in events
            )
        return view_of(row, timeline)

    def statuses(self, message_ids: Sequence[str]) -> dict[str, str]:
        """The store status of each known id (unknown ids are absent)."""
        found: dict[str, str] = {}
        ids = sorted(set(message_ids))
        with read_tx(self.engine) as connection:
            for start in range(0, len(ids), 500):
                rows = connection.execute(
                    select(messages.c.id, messages.c.status).where(
                        messages.c.id.in_(ids[start : start + 500])
                    )
                )
                found.update({row.id: row.status for row in rows})
        return found

    def parked_ids(self, limit: int = 10_000) -> builtins.list[str]:
        """Ids of messages whose store status is ``parked`` (oldest change first)."""
        with read_tx(self.engine) as connection:
            return list(
                connection.execute(
                    select(messages.c.id)
                    .where(messages.c.status == MessageStatus.PARKED.value)
                    .order_by(messages.c.updated_at)
                    .limit(limit)
                ).scalars()
            )

    def claim_overdue(
        self, *, grace: timedelta, limit: int, now: datetime | None = None
    ) -> builtins.list[Overdue]:
        """Messages their delay tier did not give back within ``grace`` of their ``due_at``,
        claimed for a re-drive (see :func:`gateway.store.due.claim_overdue`)."""
        return claim_overdue(self.engine, now=now or utcnow(), grace=grace, limit=limit)

    def get_envelope(self, message_id: str) -> Envelope | None:
        """The stored envelope (body and signature byte-exact), e.g. for a replay."""
        with read_tx(self.engine) as connection:
            row = connection.execute(select(messages).where(messages.c.id == message_id))
            found = row.mappings().first()
        return None if found is None else envelope_of(found)

    def list(
        self,
        *,
        status: str | MessageStatus | None = None,
        type: str | Enum | None = None,
        partner: str | None = None,
        dossier_code: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        error_contains: str | None = None,
        limit: int = 50,
        offset: int = 0,
        before: tuple[datetime, str] | None = None,
    ) -> builtins.list[MessageView]:
        """Messages newest first, filtered; without timelines.

        Page with ``offset`` or, for stable pages under writes, with ``before`` =
        (created_at, message_id) of the last item of the previous page.
        """
        if not 1 <= limit <= 1000:
            raise ValueError("limit: must be between 1 and 1000")
        query = select(*_VIEW_COLUMNS)
        conditions = []
        if status is not None:
            conditions.append(messages.c.status == enum_value(status))
        if type is not None:
            conditions.append(messages.c.type == enum_value(type))
        if partner is not None:
            conditions.append(messages.c.partner == partner)
        if dossier_code is not None:
            conditions.append(messages.c.dossier_code == dossier_code)
        if since is not None:
            conditions.append(messages.c.created_at >= since)
        if until is not None:
            conditions.append(messages.c.created_at < until)
        if error_contains:
            conditions.append(messages.c.last_error.contains(error_contains, autoescape=True))
        if before is not None:
            conditions.append(tuple_(messages.c.created_at, messages.c.id) < tuple_(*before))
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(messages.c.created_at.desc(), messages.c.id.desc())
        query = query.limit(limit).offset(offset)
        with read_tx(self.engine) as connection:
            return [view_of(row) for row in connection.execute(query).mappings()]
