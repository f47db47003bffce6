"""Batched timeline writes for the worker: the message store with a pipelined ``record_events``.

``MessageStore.record_events`` inserts a batch's events in one statement but then updates each
message row with its own ``UPDATE`` (one database round trip per event); at a worker's batch of
200 on PostgreSQL that is most of the worker's time. :class:`BatchTimeline` keeps the store's
rules exactly (see :mod:`gateway.store.messages`: an event may move the status; ``attempt``
raises ``attempts``; failure events with a detail set ``last_error``; ``updated_at`` moves) and
runs the updates as a few ``executemany`` statements, grouped by the columns they set, which
psycopg 3 pipelines into one round trip and SQLite runs without re-preparing. The ``due_at``
of the messages the batch sent to a delay tier (``due``) is one more ``executemany`` in the same
transaction, and none when the batch sent nothing to a tier (:mod:`gateway.store.due`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, update

from gateway.store.db import utcnow, write_tx
from gateway.store.due import write_due
from gateway.store.messages import FAILURE_EVENTS, EventRecord, MessageStore
from gateway.store.schema import message_events, messages


class BatchTimeline(MessageStore):
    """A :class:`MessageStore` whose ``record_events`` costs a constant number of round trips."""

    def record_events(
        self, events: Sequence[EventRecord], *, due: Mapping[str, datetime] | None = None
    ) -> None:
        if not events and not due:
            return
        now = utcnow()
        groups: dict[tuple[bool, bool, bool], list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            sets_error = event.event in FAILURE_EVENTS and event.detail is not None
            key = (event.status is not None, event.attempt is not None, sets_error)
            if any(key):
                groups[key].append(
                    {
                        "b_id": event.message_id,
                        "b_status": event.status,
                        "b_attempt": event.attempt,
                        "b_error": event.detail,
                        "b_now": now,
                    }
                )
        with write_tx(self.engine) as connection:
            write_due(connection, due or {})  # one statement; none when nothing went to a tier
            if not events:
                return
            connection.execute(
                message_events.insert(),
                [
                    {
                        "message_id": e.message_id,
                        "at": now,
                        "event": e.event,
                        "status": e.status,
                        "attempt": e.attempt,
                        "detail": e.detail,
                    }
                    for e in events
                ],
            )
            greatest = func.max if connection.dialect.name == "sqlite" else func.greatest
            for (sets_status, sets_attempt, sets_error), params in groups.items():
                values: dict[str, Any] = {"updated_at": bindparam("b_now")}
                if sets_status:
                    values["status"] = bindparam("b_status")
                if sets_attempt:
                    values["attempts"] = greatest(messages.c.attempts, bindparam("b_attempt"))
                if sets_error:
                    values["last_error"] = bindparam("b_error")
                statement = (
                    update(messages).where(messages.c.id == bindparam("b_id")).values(**values)
                )
                connection.execute(statement, params)
