"""Batch claims and completions on the processed-message ledger, for worker throughput.

:class:`gateway.store.ledger.Ledger` claims one message per transaction; on PostgreSQL with
durable commits that is one WAL flush per message and per completion, which caps a worker far
below the gateway's target. :class:`BatchLedger` adds the same operations for a whole batch in
one transaction each, on the same table and with the same rules as the store's ledger
(see that module's docstring): insert-first on the unique key; an expired lease is taken over
with a conditional UPDATE; ``done`` rows return their stored outcome; anything else is
``busy``. One fresh token per batch call guards the completions of that batch.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, bindparam, select, update

from gateway.store.db import insert_ignore, utcnow, write_tx
from gateway.store.ledger import Claim, Ledger
from gateway.store.schema import processed


class BatchLedger(Ledger):
    """The store's ledger plus :meth:`claim_many` and :meth:`complete_many`."""

    def claim_many(
        self, consumer: str, message_ids: Sequence[str], lease: timedelta
    ) -> dict[str, Claim]:
        """Claim every id at once; returns one :class:`Claim` per distinct id."""
        if lease <= timedelta(0):
            raise ValueError("lease: must be positive")
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return {}
        now = utcnow()
        until = now + lease
        token = secrets.token_hex(16)
        claims: dict[str, Claim] = {}
        with write_tx(self.engine) as connection:
            rows = [
                {
                    "consumer": consumer,
                    "message_id": mid,
                    "state": "claimed",
                    "token": token,
                    "lease_until": until,
                    "claims": 1,
                    "outcome": None,
                    "claimed_at": now,
                    "completed_at": None,
                }
                for mid in ids
            ]
            inserted = connection.execute(
                insert_ignore(connection, processed).returning(processed.c.message_id), rows
            ).scalars()
            for mid in inserted:
                claims[mid] = Claim("claimed", consumer, mid, token=token, lease_until=until)
            rest = [mid for mid in ids if mid not in claims]
            if rest:
                key = and_(processed.c.consumer == consumer, processed.c.message_id.in_(rest))
                taken = connection.execute(
                    update(processed)
                    .where(key, processed.c.state == "claimed", processed.c.lease_until < now)
                    .values(
                        token=token,
                        lease_until=until,
                        claimed_at=now,
                        claims=processed.c.claims + 1,
                    )
                    .returning(processed.c.message_id)
                ).scalars()
                for mid in taken:
                    claims[mid] = Claim(
                        "claimed", consumer, mid, token=token, lease_until=until, taken_over=True
                    )
                others = [mid for mid in rest if mid not in claims]
                if others:
                    found = connection.execute(
                        select(
                            processed.c.message_id,
                            processed.c.state,
                            processed.c.outcome,
                            processed.c.lease_until,
                        ).where(
                            processed.c.consumer == consumer, processed.c.message_id.in_(others)
                        )
                    )
                    for row in found:
                        if row.state == "done":
                            claims[row.message_id] = Claim(
                                "done", consumer, row.message_id, outcome=dict(row.outcome or {})
                            )
        for mid in ids:  # released between our insert and our read: someone else's turn
            claims.setdefault(mid, Claim("busy", consumer, mid))
        return {mid: claims[mid] for mid in ids}

    def complete_many(
        self, consumer: str, outcomes: Sequence[tuple[str, dict[str, Any], str | None]]
    ) -> None:
        """Mark ``(message_id, outcome, token)`` items done in one transaction.

        An item whose claim was taken over by another worker is left to that worker.
        """
        if not outcomes:
            return
        now = utcnow()
        statement = (
            update(processed)
            .where(
                processed.c.consumer == bindparam("b_consumer"),
                processed.c.message_id == bindparam("b_message_id"),
                processed.c.token == bindparam("b_token"),
                processed.c.state == "claimed",
            )
            .values(
                state="done",
                outcome=bindparam("b_outcome"),
                completed_at=bindparam("b_now"),
                lease_until=None,
            )
        )
        params = [
            {
                "b_consumer": consumer,
                "b_message_id": mid,
                "b_token": token,
                "b_outcome": outcome,
                "b_now": now,
            }
            for mid, outcome, token in outcomes
        ]
        with write_tx(self.engine) as connection:
            connection.execute(statement, params)
