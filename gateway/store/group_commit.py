"""Group commit: short writes of concurrent requests committed together, one transaction.

What it is for: on SQLite every write transaction of a process takes the one write lock
and pays its own commit; the API's accept path does three (idempotency reservation,
message, idempotency answer) per request. A :class:`GroupCommit` runs the writes handed
to it by many threads in ONE write transaction per batch, so N concurrent requests pay
one commit instead of 3N.

Rules:
- :meth:`GroupCommit.submit` hands over ``work(connection)`` and returns a
  :class:`concurrent.futures.Future`; the future is resolved only AFTER the batch's
  transaction has committed (durable as a plain :func:`write_tx`), with ``work``'s result
  or the exception it raised. An event loop awaits it with ``asyncio.wrap_future``
  (no thread-pool hop); a thread calls :meth:`run`.
- Each work item is all-or-nothing: an item that raises (an illegal transition, a body
  conflict) is rolled back alone and its future gets the exception; the batch's other
  items still commit. A batch first runs without savepoints (they cost two statements an
  item); when an item raises, the whole transaction is rolled back and the batch runs
  again with one SAVEPOINT per item. So ``work`` may run twice: it must only touch the
  database (no other side effects). If the commit itself fails, every item of the batch
  gets that error (none of them is durable).
- ``work`` must use only the connection it is given (never open its own transaction: the
  committer holds the engine's write lock) and must be short (no network calls).
- One committer thread per engine (:func:`group_commit`), started on first use and
  stopped after ``idle`` seconds without work; it takes at most ``max_batch`` items and
  waits at most ``max_wait`` for more once it has one.
- Only SQLite gets a committer (its writers take turns anyway); on PostgreSQL
  :func:`group_commit` returns None and callers write with :func:`write_tx` as before.
- Callers write through :func:`run_write` (a thread that may wait) or
  :func:`submit_write` (a future, for an event loop); both pick the committer or not.
"""

from __future__ import annotations

import queue
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from gateway.store.db import write_tx

R = TypeVar("R")


@dataclass(frozen=True)
class _Item:
    work: Callable[[Connection], Any]
    future: Future[Any]


class GroupCommit:
    """Runs handed-over writes in batched transactions (see the module rules)."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 64,
        max_wait: float = 0.0005,
        idle: float = 2.0,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch: must be at least 1")
        self._engine = weakref.ref(engine)
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.idle = idle
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0  # committed batches, for tests and benchmarks
        self.items = 0

    def submit(self, work: Callable[[Connection], R]) -> Future[R]:
        """Hand ``work`` over; the future resolves after its batch has committed."""
        future: Future[R] = Future()
        self._queue.put(_Item(work, future))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="tthc-group-commit", daemon=True
                )
                self._thread.start()
        return future

    def run(self, work: Callable[[Connection], R]) -> R:
        """Submit and wait (from a thread that may block; not from a work item)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("group commit: a work item cannot wait for another batch")
        return self.submit(work).result()

    def _loop(self) -> None:
        try:
            self._serve()
        except BaseException:  # the thread dies: the next submit starts another
            with self._lock:
                self._thread = None
            raise

    def _serve(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.idle)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            self._commit(self._gather(first))

    def _gather(self, first: _Item) -> list[_Item]:
        batch = [first]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _commit(self, batch: list[_Item]) -> None:
        engine = self._engine()
        live = [item for item in batch if item.future.set_running_or_notify_cancel()]
        if engine is None:
            for item in live:
                item.future.set_exception(RuntimeError("group commit: the engine is gone"))
            return
        try:
            try:
                outcomes = self._transaction(engine, live, savepoints=False)
            except _Refused:
                outcomes = self._transaction(engine, live, savepoints=True)
        except BaseException as error:  # the commit failed: nothing of the batch is durable
            for item in live:
                if not item.future.done():
                    item.future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        self.batches += 1
        self.items += len(live)
        for item, ok, value in outcomes:
            if ok:
                item.future.set_result(value)
            else:
                item.future.set_exception(value)

    @staticmethod
    def _transaction(
        engine: Engine, live: list[_Item], *, savepoints: bool
    ) -> list[tuple[_Item, bool, Any]]:
        """One transaction over the batch. Without savepoints (the common case: nothing is
        refused) any refusal rolls the whole batch back (:class:`_Refused`) so the caller
        runs it again with one savepoint per item."""
        outcomes: list[tuple[_Item, bool, Any]] = []
        with write_tx(engine) as connection:
            for item in live:
                if not savepoints:
                    try:
                        outcomes.append((item, True, item.work(connection)))
                    except Exception as error:  # rolled back below, run again
                        raise _Refused from error
                    continue
                try:
                    with connection.begin_nested():
                        outcomes.append((item, True, item.work(connection)))
                except Exception as error:  # noqa: BLE001 - any refusal: its savepoint only
                    outcomes.append((item, False, error))
        return outcomes


class _Refused(Exception):
    """An item refused in a batch run without savepoints: roll back, run with them."""


_COMMITTERS: weakref.WeakKeyDictionary[Engine, GroupCommit] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def group_commit(engine: Engine) -> GroupCommit | None:
    """The engine's committer (SQLite), or None (PostgreSQL: use ``write_tx``)."""
    if engine.dialect.name != "sqlite":
        return None
    with _GUARD:
        committer = _COMMITTERS.get(engine)
        if committer is None:
            committer = _COMMITTERS[engine] = GroupCommit(engine)
        return committer


_POOLS: weakref.WeakKeyDictionary[Engine, ThreadPoolExecutor] = weakref.WeakKeyDictionary()
WRITE_THREADS = 8  # per engine without a committer (PostgreSQL): concurrent write transactions


def submit_write(engine: Engine, work: Callable[[Connection], R]) -> Future[R]:
    """``work`` in a write transaction, handed over: the future resolves once committed.

    Through the committer on SQLite; on PostgreSQL in a small thread pool of the engine's
    (``WRITE_THREADS``), each item in its own :func:`write_tx`. For an event loop
    (``asyncio.wrap_future``): no thread of its own waits for the commit.
    """
    committer = group_commit(engine)
    if committer is not None:
        return committer.submit(work)
    with _GUARD:
        pool = _POOLS.get(engine)
        if pool is None:
            pool = _POOLS[engine] = ThreadPoolExecutor(
                WRITE_THREADS, thread_name_prefix="tthc-write"
            )
    return pool.submit(_write, engine, work)


def _write(engine: Engine, work: Callable[[Connection], R]) -> R:
    with write_tx(engine) as connection:
        return work(connection)


def run_write(engine: Engine, work: Callable[[Connection], R]) -> R:
    """``work`` in a write transaction: through the committer on SQLite, else ``write_tx``."""
    committer = group_commit(engine)
    if committer is not None:
        return committer.run(work)
    return _write(engine, work)
