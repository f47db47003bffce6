"""The processed-message ledger: exactly-once processing on top of at-least-once delivery.

What it is for: a consumer calls :meth:`Ledger.claim` before handling a message. Only
one worker at a time owns a (consumer, message id); a duplicate delivery of a message
already handled gets the stored outcome back instead of running the handler again.

Rules:
- Insert-first: a claim INSERTs ``(consumer, message_id)`` with ``ON CONFLICT DO
  NOTHING RETURNING``; the unique key decides the winner, in any database, under any
  load (RETURNING, not ``rowcount``, tells who won: psycopg reports -1 for it).
- A claim holds a lease. A worker that crashed mid-message leaves an expired lease,
  which the next claim takes over with one conditional UPDATE (``... WHERE lease_until
  < now``): atomic, so of two workers taking over, exactly one wins.
- States seen by the caller: ``claimed`` (you own it; handle it, then ``complete`` or
  ``release``), ``done`` (already processed: ``outcome`` is what was stored), ``busy``
  (another worker holds an unexpired lease: requeue it for later).
- Each claim carries a fresh ``token``; ``complete``/``release`` with a token only act
  if that claim still owns the row (a worker whose lease was taken over learns it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, and_, delete, select, update
from sqlalchemy.engine import Connection

from gateway.domain.errors import Conflict
from gateway.store.db import insert_ignore, read_tx, utcnow, write_tx
from gateway.store.schema import processed

ClaimState = Literal["claimed", "done", "busy"]


@dataclass(frozen=True)
class Claim:
    """The answer to a claim. ``outcome`` is set for ``done``; ``token`` for ``claimed``."""

    state: ClaimState
    consumer: str
    message_id: str
    token: str | None = None
    outcome: dict[str, Any] | None = None
    lease_until: datetime | None = None
    taken_over: bool = False

    @property
    def owned(self) -> bool:
        return self.state == "claimed"


class Ledger:
    """Processed-message ledger on one engine (see the module rules)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, consumer: str, message_id: str, lease: timedelta) -> Claim:
        """Try to own ``(consumer, message_id)`` for ``lease``; see :class:`Claim`."""
        if lease <= timedelta(0):
            raise ValueError("lease: must be positive")
        for _ in range(3):
            with write_tx(self.engine) as connection:
                result = self._claim_in(connection, consumer, message_id, lease)
            if result is not None:
                return result
        raise Conflict(f"ledger: claim of {consumer}/{message_id} kept racing with releases")

    def _claim_in(
        self, connection: Connection, consumer: str, message_id: str, lease: timedelta
    ) -> Claim | None:
        now = utcnow()
        token = secrets.token_hex(16)
        until = now + lease
        inserted = connection.execute(
            insert_ignore(connection, processed)
            .values(
                consumer=consumer,
                message_id=message_id,
                state="claimed",
                token=token,
                lease_until=until,
                claims=1,
                outcome=None,
                claimed_at=now,
                completed_at=None,
            )
            .returning(processed.c.token)
        ).first()
        if inserted is not None:
            return Claim("claimed", consumer, message_id, token=token, lease_until=until)
        key = and_(processed.c.consumer == consumer, processed.c.message_id == message_id)
        taken = connection.execute(
            update(processed)
            .where(key, processed.c.state == "claimed", processed.c.lease_until < now)
            .values(token=token, lease_until=until, claimed_at=now, claims=processed.c.claims + 1)
            .returning(processed.c.token)
        ).first()
        if taken is not None:
            return Claim(
                "claimed", consumer, message_id, token=token, lease_until=until, taken_over=True
            )
        row = connection.execute(
            select(processed.c.state, processed.c.outcome, processed.c.lease_until).where(key)
        ).first()
        if row is None:
            return None  # released between our insert and our read: try again
        if row.state == "done":
            return Claim("done", consumer, message_id, outcome=dict(row.outcome or {}))
        return Claim("busy", consumer, message_id, lease_until=row.lease_until)

    def complete(
        self,
        consumer: str,
        message_id: str,
        outcome: dict[str, Any],
        *,
        token: str | None = None,
    ) -> None:
        """Mark processed with its outcome (JSON-serialisable). Conflict if not ours."""
        now = utcnow()
        conditions = [processed.c.consumer == consumer, processed.c.message_id == message_id]
        if token is not None:
            conditions += [processed.c.token == token, processed.c.state == "claimed"]
        with write_tx(self.engine) as connection:
            done = connection.execute(
                update(processed)
                .where(and_(*conditions))
                .values(state="done", outcome=outcome, completed_at=now, lease_until=None)
                .returning(processed.c.token)
            ).first()
            if done is not None:
                return
            if token is None:
                # No claim row (e.g. completed without claiming): record the outcome.
                connection.execute(
                    insert_ignore(connection, processed).values(
                        consumer=consumer,
                        message_id=message_id,
                        state="done",
                        token=secrets.token_hex(16),
                        lease_until=None,
                        claims=0,
                        outcome=outcome,
                        claimed_at=now,
                        completed_at=now,
                    )
                )
                return
        raise Conflict(f"ledger: {consumer}/{message_id} is no longer claimed by this worker")

    def release(self, consumer: str, message_id: str, *, token: str | None = None) -> bool:
        """Give up a claim (the message will be retried); True if a claim was released."""
        conditions = [
            processed.c.consumer == consumer,
            processed.c.message_id == message_id,
            processed.c.state == "claimed",
        ]
        if token is not None:
            conditions.append(processed.c.token == token)
        with write_tx(self.engine) as connection:
            released = connection.execute(
                delete(processed).where(and_(*conditions)).returning(processed.c.token)
            ).first()
        return released is not None

    def outcome(self, consumer: str, message_id: str) -> dict[str, Any] | None:
        """The stored outcome if processed, else None."""
        with read_tx(self.engine) as connection:
            row = connection.execute(
                select(processed.c.state, processed.c.outcome).where(
                    processed.c.consumer == consumer, processed.c.message_id == message_id
                )
            ).first()
        if row is None or row.state != "done":
            return None
        return dict(row.outcome or {})
