"""The registry of worker processes: who is alive, and the heartbeat that keeps claims theirs.

What it is for: a claim in the processed-message ledger (and a row taken from the embedded
queue) names the worker process that holds it. Whether that worker is alive decides what
happens to the claim when the message is delivered again:

Rules:
- Every worker process registers once (:meth:`WorkerRegistry.register`: id, host, pid,
  started) and heartbeats every ``heartbeat_seconds`` (:meth:`WorkerRegistry.heartbeat`).
- A worker is **alive** while its last heartbeat is younger than ``dead_after`` and it has not
  deregistered. A claim whose worker is not alive is taken over at once by the next claim
  (:func:`dead_holder`); a claim whose worker is alive is never taken over by liveness, only
  by its lease running out, and the heartbeat renews that lease.
- With each heartbeat the worker renews the leases of the claims it has in hand (the batch
  its handlers are working on: :meth:`gateway.store.ledger.Ledger.renew`, and the embedded
  queue's rows; :mod:`gateway.messaging.liveness`): a slow partner never loses a claim while
  its worker is alive, a dead worker's claims are free within ``dead_after`` seconds, and a
  claim a live worker leaked (no longer in hand) is free when its lease runs out.
- A worker that stops cleanly deregisters (``stopped_at``): its claims are free at once.
- Rows of workers gone for longer than a day are purged by :meth:`WorkerRegistry.purge`.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, delete, exists, insert, or_, select, update

from gateway.store.db import read_tx, utcnow, write_tx
from gateway.store.schema import workers


def new_worker_id() -> str:
    """``host:pid:random``: unique per process start, readable by an operator."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class WorkerInfo:
    """One registered worker process as an operator sees it."""

    worker_id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    alive: bool


def dead_holder(
    holder: ColumnElement[str | None], now: datetime, dead_after: timedelta
) -> ColumnElement[bool]:
    """SQL: the row's holder is a worker id with no live registration (NULL holders excluded)."""
    live = exists().where(
        workers.c.worker_id == holder,
        workers.c.heartbeat_at >= now - dead_after,
        workers.c.stopped_at.is_(None),
    )
    return and_(holder.is_not(None), ~live)


class WorkerRegistry:
    """Registration and heartbeats of worker processes on one engine (see the module rules)."""

    def __init__(self, engine: Engine, *, dead_after: timedelta = timedelta(seconds=10)) -> None:
        if dead_after <= timedelta(0):
            raise ValueError("dead_after: must be positive")
        self.engine = engine
        self.dead_after = dead_after

    def register(self, worker_id: str, *, host: str | None = None, pid: int | None = None) -> None:
        now = utcnow()
        with write_tx(self.engine) as connection:
            connection.execute(
                insert(workers).values(
                    worker_id=worker_id,
                    host=(host or socket.gethostname())[:255],
                    pid=os.getpid() if pid is None else pid,
                    started_at=now,
                    heartbeat_at=now,
                    stopped_at=None,
                )
            )

    def heartbeat(self, worker_id: str) -> bool:
        """Say this worker is alive; False if it is not registered (or was deregistered)."""
        now = utcnow()
        with write_tx(self.engine) as connection:
            alive = connection.execute(
                update(workers)
                .where(workers.c.worker_id == worker_id, workers.c.stopped_at.is_(None))
                .values(heartbeat_at=now)
                .returning(workers.c.worker_id)
            ).first()
        return alive is not None

    def deregister(self, worker_id: str) -> None:
        """A clean stop: the worker's remaining claims are free at once."""
        with write_tx(self.engine) as connection:
            connection.execute(
                update(workers).where(workers.c.worker_id == worker_id).values(stopped_at=utcnow())
            )

    def list(self) -> list[WorkerInfo]:
        now = utcnow()
        with read_tx(self.engine) as connection:
            rows = connection.execute(select(workers).order_by(workers.c.started_at)).all()
        return [
            WorkerInfo(
                row.worker_id,
                row.host,
                row.pid,
                row.started_at,
                row.heartbeat_at,
                row.stopped_at,
                row.stopped_at is None and row.heartbeat_at >= now - self.dead_after,
            )
            for row in rows
        ]

    def purge(self, older_than: timedelta = timedelta(days=1)) -> int:
        """Forget workers stopped or silent for longer than ``older_than``."""
        limit = utcnow() - older_than
        with write_tx(self.engine) as connection:
            result = connection.execute(
                delete(workers).where(
                    or_(workers.c.heartbeat_at < limit, workers.c.stopped_at < limit)
                )
            )
        return int(result.rowcount or 0)
