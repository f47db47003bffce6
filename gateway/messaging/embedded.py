"""The embedded transport: a durable queue in the gateway's own SQL database (no broker).

Used when no broker URL is configured (single machine, ``make run``); the same contract
suite as RabbitMQ runs against it, on SQLite and on PostgreSQL.

Rules:
- One table, ``queue_messages`` (created by Alembic revision 0002): a row is one message in
  one queue (``{prefix}.{type}`` or ``{prefix}.parked``).
- ``publish`` commits the rows before it returns: the commit is the confirm. A type with no
  queue of this transport is refused as :class:`Unroutable`, like ``mandatory`` on RabbitMQ.
- A consumer claims rows whose ``visible_at`` has passed by pushing ``visible_at`` one lease
  ahead and writing its ``lease_owner``: a consumer that dies leaves its messages to reappear
  when the lease runs out (at-least-once). On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED``;
  SQLite serialises writers (``BEGIN IMMEDIATE``).
- With worker liveness on (``dead_after`` set, ``consumer_id`` = the registered worker id, see
  :mod:`gateway.messaging.liveness`), the heartbeat renews the rows a worker holds
  (:meth:`EmbeddedTransport.renew`) and a row held by a dead worker is claimable at once.
- Ack deletes the row; retry moves ``visible_at`` by the tier's delay and bumps the attempt;
  park moves the row to the parked queue with the parking headers. All dispositions of a batch
  are applied in one transaction, after the handler returned.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Engine,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from gateway.domain.errors import ConfigError
from gateway.domain.messages import Envelope
from gateway.messaging import codec
from gateway.messaging.consuming import run_single
from gateway.messaging.port import (
    ALL_TYPES,
    REASON_EXHAUSTED,
    BatchHandler,
    Delivery,
    Disposition,
    Handler,
    ParkedMessage,
    RetryPolicy,
    Unroutable,
)
from gateway.store.db import read_tx, write_tx
from gateway.store.schema import queue_messages
from gateway.store.workers import dead_holder

log = logging.getLogger(__name__)

_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


class EmbeddedTransport:
    """:class:`gateway.messaging.port.Transport` on the SQL database (see the module rules)."""

    def __init__(
        self,
        engine: Engine,
        *,
        prefix: str = "tthc",
        types: Sequence[str] = ALL_TYPES,
        retry: RetryPolicy | None = None,
        lease: timedelta = timedelta(seconds=60),
        poll_interval: float = 0.05,
        batch_linger: float = 0.01,
        dead_after: timedelta | None = None,
    ) -> None:
        self.engine = engine
        self.prefix = prefix
        self.types = tuple(types)
        self.retry_policy = retry or RetryPolicy()
        self.lease = lease
        self.poll_interval = poll_interval
        self.batch_linger = batch_linger
        self.consumer_id = uuid.uuid4().hex
        self.dead_after = dead_after  # None: leases only (no worker registry)
        self._in_hand: set[int] = set()  # row ids claimed and not yet settled
        self._in_hand_lock = threading.Lock()
        self._unreturned: set[int] = set()  # rows a failed batch could not give back yet

    def queue_for(self, type_: str) -> str:
        return f"{self.prefix}.{type_}"

    @property
    def parked(self) -> str:
        return f"{self.prefix}.parked"

    def declare(self) -> None:
        """The table comes from the migrations; check it is there."""
        try:
            with read_tx(self.engine) as connection:
                connection.execute(select(queue_messages.c.id).limit(1)).all()
        except SQLAlchemyError as error:
            raise ConfigError(
                "database: the embedded queue table 'queue_messages' is missing or unreadable "
                f"({type(error).__name__}); run `tthc-gateway db upgrade`"
            ) from error

    # -- publishing -------------------------------------------------------------------------

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        if not envelopes:
            return
        for envelope in envelopes:
            if envelope.type not in self.types:
                raise Unroutable(
                    f"message {envelope.message_id}: no queue for type {envelope.type!r}"
                )
        now = datetime.now(UTC)
        rows = [
            {
                "queue": self.queue_for(env.type),
                "message_id": env.message_id,
                "type": env.type,
                "correlation_id": env.correlation_id,
                "body": env.body,
                "headers": codec.envelope_headers(env),
                "attempt": 1,
                "enqueued_at": now,
                "visible_at": now,
                "lease_owner": None,
            }
            for env in envelopes
        ]
        with write_tx(self.engine) as connection:
            connection.execute(queue_messages.insert(), rows)

    # -- consuming --------------------------------------------------------------------------

    def consume(self, types: Sequence[str], handler: Handler, *, stop: threading.Event) -> None:
        self.consume_batches(types, run_single(handler), stop=stop, max_batch=1)

    def consume_batches(
        self,
        types: Sequence[str],
        handler: BatchHandler,
        *,
        stop: threading.Event,
        max_batch: int = 100,
    ) -> None:
        unknown = sorted(set(types) - set(self.types))
        if unknown:
            raise ValueError(f"consume: no queue for message type(s) {unknown}")
        by_queue = {self.queue_for(t): t for t in types}
        queues = list(by_queue)
        while not stop.is_set():
            self._return_pending()
            claimed = self._claim(queues, max_batch)
            if not claimed:
                stop.wait(self.poll_interval)
                continue
            ids = {row["id"] for row in claimed}
            with self._in_hand_lock:
                self._in_hand |= ids
            try:
                deliveries = [_delivery(row, by_queue[row["queue"]]) for row in claimed]
                dispositions = list(handler(deliveries))
                if len(dispositions) != len(deliveries):
                    raise RuntimeError(
                        f"batch handler returned {len(dispositions)} dispositions "
                        f"for {len(deliveries)} deliveries"
                    )
                self._settle(claimed, deliveries, dispositions)
            except Exception:
                log.exception("consumer: batch failed; %d returned to the queue", len(claimed))
                self._return(claimed)
                stop.wait(1.0)
                continue
            finally:
                with self._in_hand_lock:
                    self._in_hand -= ids
            if len(claimed) < max_batch and self.batch_linger > 0:
                stop.wait(self.batch_linger)  # let a fuller batch gather

    def _claim(self, queues: Sequence[str], limit: int) -> list[Any]:
        now = datetime.now(UTC)
        due = queue_messages.c.visible_at <= now
        if self.dead_after is not None:
            due = or_(due, dead_holder(queue_messages.c.lease_owner, now, self.dead_after))
        candidates = (
            select(queue_messages.c.id)
            .where(queue_messages.c.queue.in_(queues), due)
            .order_by(queue_messages.c.id)
            .limit(limit)
        )
        with write_tx(self.engine) as connection:
            if connection.dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            ids = list(connection.execute(candidates).scalars())
            if not ids:
                return []
            rows = list(
                connection.execute(
                    select(queue_messages)
                    .where(queue_messages.c.id.in_(ids))
                    .order_by(queue_messages.c.id)
                ).mappings()
            )
            connection.execute(
                update(queue_messages)
                .where(queue_messages.c.id.in_(ids))
                .values(visible_at=now + self.lease, lease_owner=self.consumer_id)
            )
        return rows

    def _settle(
        self,
        rows: Sequence[Any],
        deliveries: Sequence[Delivery],
        dispositions: Sequence[Disposition],
    ) -> None:
        now = datetime.now(UTC)
        acked = [row["id"] for row, d in zip(rows, dispositions, strict=True) if d.action == "ack"]
        with write_tx(self.engine) as connection:
            if acked:
                connection.execute(delete(queue_messages).where(queue_messages.c.id.in_(acked)))
            for row, delivery, disposition in zip(rows, deliveries, dispositions, strict=True):
                if disposition.action != "ack":
                    self._move(connection, row["id"], delivery, disposition, now)

    def _move(
        self,
        connection: Connection,
        row_id: int,
        delivery: Delivery,
        disposition: Disposition,
        now: datetime,
    ) -> None:
        policy = self.retry_policy
        error = disposition.error or disposition.reason
        if disposition.action == "defer":
            values: dict[str, Any] = {
                "headers": codec.defer_headers(delivery, error, now, spent=disposition.spent),
                "attempt": delivery.attempt + (1 if disposition.spent else 0),
                "visible_at": now + timedelta(seconds=disposition.delay),
            }
        elif disposition.action == "retry" and delivery.attempt < policy.max_attempts:
            values = {
                "headers": codec.retry_headers(delivery, error, now),
                "attempt": delivery.attempt + 1,
                "visible_at": now + timedelta(seconds=policy.delay_for(delivery.attempt)),
            }
        else:
            reason = disposition.reason if disposition.action == "park" else REASON_EXHAUSTED
            values = {
                "queue": self.parked,
                "headers": codec.park_headers(delivery, reason, error, now),
                "visible_at": _FAR_FUTURE,
            }
        connection.execute(
            update(queue_messages)
            .where(queue_messages.c.id == row_id)
            .values(lease_owner=None, **values)
        )

    def _return(self, rows: Sequence[Any]) -> None:
        """Give claimed rows back (visible again in a second; still marked as delivered before).

        When the store is away too, the ids are kept and given back as soon as it answers
        (:meth:`_return_pending`), instead of waiting out their lease."""
        ids = {int(row["id"]) for row in rows} | self._unreturned
        try:
            with write_tx(self.engine) as connection:
                connection.execute(
                    update(queue_messages)
                    .where(
                        queue_messages.c.id.in_(sorted(ids)),
                        queue_messages.c.lease_owner == self.consumer_id,
                    )
                    .values(visible_at=datetime.now(UTC) + timedelta(seconds=1))
                )
            self._unreturned = set()
        except SQLAlchemyError as error:
            self._unreturned = ids
            log.warning(
                "consumer: %d claimed rows not returned yet (%s)", len(ids), type(error).__name__
            )

    def _return_pending(self) -> None:
        if self._unreturned:
            self._return([])

    def renew(self, worker_id: str, lease: timedelta) -> None:
        """Push the visibility of the rows in hand (claimed, not yet settled) one ``lease`` ahead."""
        with self._in_hand_lock:
            ids = sorted(self._in_hand)
        if not ids:
            return
        with write_tx(self.engine) as connection:
            connection.execute(
                update(queue_messages)
                .where(
                    queue_messages.c.id.in_(ids),
                    queue_messages.c.lease_owner == worker_id,
                    queue_messages.c.queue != self.parked,
                )
                .values(visible_at=datetime.now(UTC) + lease)
            )

    # -- parked messages --------------------------------------------------------------------

    def park(self, delivery: Delivery, reason: str, error: str) -> None:
        now = datetime.now(UTC)
        envelope = delivery.envelope
        with write_tx(self.engine) as connection:
            connection.execute(
                queue_messages.insert(),
                {
                    "queue": self.parked,
                    "message_id": envelope.message_id,
                    "type": envelope.type,
                    "correlation_id": envelope.correlation_id,
                    "body": envelope.body,
                    "headers": codec.park_headers(delivery, reason, error, now),
                    "attempt": delivery.attempt,
                    "enqueued_at": now,
                    "visible_at": _FAR_FUTURE,
                    "lease_owner": None,
                },
            )

    def ping(self) -> None:
        """The queue table answers (the same check as :meth:`declare`)."""
        self.declare()

    def list_parked(self, limit: int = 100) -> list[ParkedMessage]:
        with read_tx(self.engine) as connection:
            rows = connection.execute(
                select(queue_messages)
                .where(queue_messages.c.queue == self.parked)
                .order_by(queue_messages.c.id)
                .limit(limit)
            ).mappings()
            return [_parked(row) for row in rows]

    def take_parked(self, message_id: str) -> ParkedMessage | None:
        with write_tx(self.engine) as connection:
            row = (
                connection.execute(
                    select(queue_messages)
                    .where(
                        queue_messages.c.queue == self.parked,
                        queue_messages.c.message_id == message_id,
                    )
                    .order_by(queue_messages.c.id)
                    .limit(1)
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            connection.execute(delete(queue_messages).where(queue_messages.c.id == row["id"]))
            return _parked(row)

    def delete_topology(self) -> None:
        """Remove every row of this prefix (tests)."""
        with write_tx(self.engine) as connection:
            connection.execute(
                delete(queue_messages).where(queue_messages.c.queue.like(f"{self.prefix}.%"))
            )

    def close(self) -> None:
        """Nothing per thread to release (the engine's pool belongs to the caller)."""


def _envelope(row: Any) -> tuple[Envelope, dict[str, str]]:
    headers = {str(k): str(v) for k, v in dict(row["headers"] or {}).items()}
    envelope = codec.envelope_from(
        message_id=row["message_id"],
        type_=row["type"],
        correlation_id=row["correlation_id"],
        body=bytes(row["body"]),
        headers=headers,
        fallback_timestamp=row["enqueued_at"],
    )
    return envelope, headers


def _delivery(row: Any, queue_type: str) -> Delivery:
    return codec.decode_delivery(
        message_id=row["message_id"],
        type_=row["type"],
        correlation_id=row["correlation_id"],
        body=bytes(row["body"]),
        headers={str(k): str(v) for k, v in dict(row["headers"] or {}).items()},
        queue=row["queue"],
        queue_type=queue_type,
        redelivered=row["lease_owner"] is not None,
        fallback_timestamp=row["enqueued_at"],
    )


def _parked(row: Any) -> ParkedMessage:
    envelope, headers = _envelope(row)
    return codec.parked_from(envelope, headers)
