"""When each message sent to a delay tier is due back (``messages.due_at``), and the overdue.

What it is for: the store knows every message not yet delivered; with ``due_at`` it also knows
when a delay tier should have given each one back, so a copy the broker never gives back
(a retry tier whose dead-lettering stalled) is found and sent again from the store
(:mod:`gateway.messaging.redrive`).

Rules:
- The worker writes ``due_at`` in its batch's timeline transaction (:func:`write_due`: one
  ``executemany`` UPDATE for the whole batch, none when nothing went to a tier). A later
  write replaces an earlier one. ``due_at`` is never cleared: a final status makes it moot
  (every read here filters on the status first; the index is ``(status, due_at)``).
- Overdue: status ``published`` or ``retrying`` (:data:`REDRIVABLE`) and ``due_at`` before
  ``now - grace``. ``accepted`` is left to the outbox (the relay publishes it again until it
  is marked published); ``delivered``, ``parked`` and ``failed`` are final; ``replayed`` is an
  operator's re-signed copy, which the store does not hold.
- :func:`claim_overdue` takes at most ``limit`` overdue messages, most overdue first, and
  pushes their ``due_at`` ahead by ``grace`` or by how overdue each was, whichever is longer
  (so a message whose copies keep waiting, in a backlog rather than a stall, is sent again
  after 30 s, 60 s, 120 s, … not every run), in the same transaction (``FOR UPDATE SKIP
  LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), like the outbox's lease: two
  re-drives never take the same message at once, and one that dies after the claim leaves the
  message overdue again one ``grace`` later. It loads the stored envelopes (body, signature
  and headers byte-exact, as accepted).
- No status and no timeline are written here: the caller records what it did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.engine import Connection

from gateway.domain.messages import Envelope, MessageStatus
from gateway.store.db import write_tx
from gateway.store.message_views import envelope_of
from gateway.store.schema import messages

#: Statuses a re-drive may send again (see the module rules for the others).
REDRIVABLE = (MessageStatus.PUBLISHED.value, MessageStatus.RETRYING.value)

_WRITE_DUE = (
    update(messages).where(messages.c.id == bindparam("b_id")).values(due_at=bindparam("b_due"))
)


@dataclass(frozen=True)
class Overdue:
    """A message its delay tier did not give back in time, as the store holds it."""

    envelope: Envelope
    status: str
    due_at: datetime


def write_due(connection: Connection, due: Mapping[str, datetime]) -> None:
    """In the caller's write transaction: set ``due_at`` of each message id (one statement)."""
    if not due:
        return
    connection.execute(_WRITE_DUE, [{"b_id": mid, "b_due": at} for mid, at in due.items()])


def claim_overdue(engine: Engine, *, now: datetime, grace: timedelta, limit: int) -> list[Overdue]:
    """Up to ``limit`` overdue messages, most overdue first, their ``due_at`` pushed to
    ``now + grace`` (see the module rules)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    with write_tx(engine) as connection:
        query = (
            select(messages.c.id, messages.c.status, messages.c.due_at)
            .where(messages.c.status.in_(REDRIVABLE), messages.c.due_at < now - grace)
            .order_by(messages.c.due_at)
            .limit(limit)
        )
        if connection.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        chosen = connection.execute(query).all()
        if not chosen:
            return []
        ids = [row.id for row in chosen]
        # the wait doubles while the copies are not handled (a backlog, not a stall, adds
        # one copy per doubling, not one per run)
        pushed = [
            {"b_id": row.id, "b_due": now + max(grace, now - row.due_at)} for row in chosen
        ]
        connection.execute(_WRITE_DUE, pushed)
        rows = connection.execute(select(messages).where(messages.c.id.in_(ids))).mappings()
        envelopes = {row["id"]: envelope_of(row) for row in rows}
    return [Overdue(envelopes[row.id], row.status, row.due_at) for row in chosen]
