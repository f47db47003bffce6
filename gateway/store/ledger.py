"""The processed-message ledger: exactly-once processing on top of at-least-once delivery.

What it is for: a consumer calls :meth:`Ledger.claim` before handling a message. Only
one worker at a time owns a (consumer, message id); a duplicate delivery of a message
already handled gets the stored outcome back instead of running the handler again.

Rules:
- Insert-first: a claim INSERTs ``(consumer, message_id)`` with ``ON CONFLICT DO
  NOTHING RETURNING``; the unique key decides the winner, in any database, under any
  load (RETURNING, not ``rowcount``, tells who won: psycopg reports -1 for it).
- A claim holds a lease and names the worker process that made it (``worker_id``, see
  :mod:`gateway.store.workers`). The next claim takes a row over with one conditional UPDATE
  when its lease ran out **or** its worker is dead (no heartbeat within ``dead_after``, or
  deregistered): atomic, so of two workers taking over, exactly one wins. A live worker's
  claim is never taken over by liveness, and its heartbeat keeps renewing the lease.
- States seen by the caller: ``claimed`` (you own it; handle it, then ``complete`` or
  ``release``), ``done`` (already processed: ``outcome`` is what was stored), ``busy``
  (another live worker holds it: requeue it for later, without counting an attempt).
- Each claim carries a fresh ``token`` (one per batch with :meth:`Ledger.claim_many`);
  ``complete``/``complete_many``/``release`` with a token only act if that claim still
  owns the row (a worker whose lease was taken over learns it).
- Batches (``claim_many``, ``complete_many``) are one transaction each and touch ids in
  sorted order, so overlapping batches of two workers cannot deadlock on PostgreSQL.
- The lease must outlast the handler (partner call with its deadline, plus margin):
  a lease that runs out while the handler still works lets a second worker in.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, and_, bindparam, delete, or_, select, update
from sqlalchemy.engine import Connection

from gateway.domain.errors import Conflict
from gateway.store.db import insert_ignore, read_tx, utcnow, write_tx
from gateway.store.schema import processed
from gateway.store.workers import dead_holder

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
    holder: str | None = None  # for ``busy``: the worker holding it

    @property
    def owned(self) -> bool:
        return self.state == "claimed"


class Ledger:
    """Processed-message ledger on one engine (see the module rules)."""

    def __init__(
        self,
        engine: Engine,
        *,
        worker_id: str | None = None,
        dead_after: timedelta = timedelta(seconds=10),
    ) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.dead_after = dead_after

    def claim(self, consumer: str, message_id: str, lease: timedelta) -> Claim:
        """Try to own ``(consumer, message_id)`` for ``lease``; see :class:`Claim`."""
        return self.claim_many(consumer, [message_id], lease)[message_id]

    def claim_many(
        self, consumer: str, message_ids: Sequence[str], lease: timedelta
    ) -> dict[str, Claim]:
        """Claim a batch in one transaction (for a worker holding a prefetch window).

        The claims of one batch share one token. Ids are handled in sorted order, so
        two workers claiming overlapping batches on PostgreSQL do not deadlock.
        """
        if lease <= timedelta(0):
            raise ValueError("lease: must be positive")
        pending = sorted(set(message_ids))
        claims: dict[str, Claim] = {}
        if not pending:
            return claims
        for _ in range(3):
            with write_tx(self.engine) as connection:
                claims.update(self._claim_in(connection, consumer, pending, lease))
            pending = [message_id for message_id in pending if message_id not in claims]
            if not pending:
                return claims
        raise Conflict(f"ledger: claims of {consumer}/{pending[0]} kept racing with releases")

    def _claim_in(
        self, connection: Connection, consumer: str, message_ids: list[str], lease: timedelta
    ) -> dict[str, Claim]:
        now = utcnow()
        token = secrets.token_hex(16)
        until = now + lease
        rows = [
            {
                "consumer": consumer,
                "message_id": message_id,
                "state": "claimed",
                "token": token,
                "lease_until": until,
                "claims": 1,
                "outcome": None,
                "claimed_at": now,
                "completed_at": None,
                "worker_id": self.worker_id,
            }
            for message_id in message_ids
        ]
        statement = insert_ignore(connection, processed).returning(processed.c.message_id)
        inserted = set(connection.execute(statement, rows).scalars())
        claims = {
            message_id: Claim("claimed", consumer, message_id, token=token, lease_until=until)
            for message_id in inserted
        }
        rest = [message_id for message_id in message_ids if message_id not in inserted]
        if not rest:
            return claims
        taken = connection.execute(
            update(processed)
            .where(
                processed.c.consumer == consumer,
                processed.c.message_id.in_(rest),
                processed.c.state == "claimed",
                or_(
                    processed.c.lease_until < now,
                    dead_holder(processed.c.worker_id, now, self.dead_after),
                ),
            )
            .values(
                token=token,
                lease_until=until,
                claimed_at=now,
                claims=processed.c.claims + 1,
                worker_id=self.worker_id,
            )
            .returning(processed.c.message_id)
        ).scalars()
        for message_id in taken:
            claims[message_id] = Claim(
                "claimed", consumer, message_id, token=token, lease_until=until, taken_over=True
            )
        rest = [message_id for message_id in rest if message_id not in claims]
        if not rest:
            return claims
        found = connection.execute(
            select(
                processed.c.message_id,
                processed.c.state,
                processed.c.outcome,
                processed.c.lease_until,
                processed.c.worker_id,
            ).where(processed.c.consumer == consumer, processed.c.message_id.in_(rest))
        )
        for row in found:  # ids absent here were released meanwhile: the caller retries
            if row.state == "done":
                claims[row.message_id] = Claim(
                    "done", consumer, row.message_id, outcome=dict(row.outcome or {})
                )
            else:
                claims[row.message_id] = Claim(
                    "busy",
                    consumer,
                    row.message_id,
                    lease_until=row.lease_until,
                    holder=row.worker_id,
                )
        return claims

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

    def complete_many(
        self, consumer: str, outcomes: Mapping[str, dict[str, Any]], *, token: str
    ) -> list[str]:
        """Complete a batch claimed with ``token`` in one transaction.

        Returns the ids that were no longer ours (lease taken over): those are left as
        they are, the rest are marked done with their outcomes.
        """
        if not outcomes:
            return []
        now = utcnow()
        statement = (
            update(processed)
            .where(
                processed.c.consumer == consumer,
                processed.c.message_id == bindparam("b_message_id"),
                processed.c.token == token,
                processed.c.state == "claimed",
            )
            .values(
                state="done", outcome=bindparam("b_outcome"), completed_at=now, lease_until=None
            )
        )
        ids = sorted(outcomes)
        with write_tx(self.engine) as connection:
            connection.execute(
                statement,
                [{"b_message_id": mid, "b_outcome": outcomes[mid]} for mid in ids],
            )
            ours = set(
                connection.execute(
                    select(processed.c.message_id).where(
                        processed.c.consumer == consumer,
                        processed.c.message_id.in_(ids),
                        processed.c.token == token,
                        processed.c.state == "done",
                    )
                ).scalars()
            )
        return [mid for mid in ids if mid not in ours]

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

    def renew(self, consumer: str, held: Mapping[str, Sequence[str]], lease: timedelta) -> int:
        """Push the lease of the claims ``held`` (token -> message ids) one ``lease`` ahead.

        The worker's heartbeat calls this for the batches its handlers are working on, so a slow
        partner never lets a claim run out while its worker is alive. Claims no longer held
        under that token (completed, released, taken over) are left alone."""
        until = utcnow() + lease
        renewed = 0
        with write_tx(self.engine) as connection:
            for token, message_ids in held.items():
                if not message_ids:
                    continue
                result = connection.execute(
                    update(processed)
                    .where(
                        processed.c.consumer == consumer,
                        processed.c.message_id.in_(sorted(set(message_ids))),
                        processed.c.token == token,
                        processed.c.state == "claimed",
                    )
                    .values(lease_until=until)
                )
                renewed += int(result.rowcount or 0)
        return renewed

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
