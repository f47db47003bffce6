"""The SQL unit of work, and how it commits: group commit on SQLite, a pool on PostgreSQL.

What it is for: the one way a flow writes. A flow stages one command's writes on the
repositories of a :class:`SqlUnitOfWork` (``gateway.store.repositories`` states what it
sees) and calls :meth:`~SqlUnitOfWork.commit`; the writes become ONE transaction, run by
the engine's commit strategy, and the returned future resolves once it is durable.

Rules:
- Staging does no I/O: each repository method appends a step, a call of the repository
  module's own SQL function (``messages.insert_accepted``, ``dossier_states.advance``,
  ``idempotency.record`` ...) with frozen arguments. :meth:`~SqlUnitOfWork.commit` hands
  the steps over as one work item; they run in the order staged, on one connection in one
  write transaction, on the strategy's thread. A step that raises fails the future with
  its error and nothing of the unit of work is recorded.
- Steps are short SQL and nothing else (no network call, no side effect outside the
  transaction), so a strategy may run them again: group commit does when another item of
  the batch is refused, the pool when a unique key raced.
- A unit of work commits once; leaving its ``with`` block discards what was not committed.
- The strategy is the engine's (:func:`commit_strategy`), shared by every unit of work:
  - SQLite: :class:`GroupCommit`. Every write transaction of a process takes the one write
    lock and pays its own commit; the committer thread runs the units of work handed to it
    by many requests in ONE transaction per batch, so N requests pay one commit. A batch
    runs first without savepoints (they cost two statements an item); when an item raises,
    the transaction is rolled back and the batch runs again with one SAVEPOINT per item,
    so the refused item is rolled back alone and the others commit. A failed commit fails
    every item of the batch (none of them is durable). The thread starts on first use and
    stops after ``idle`` seconds without work; it takes at most ``max_batch`` items and
    waits at most ``max_wait`` for more once it has one.
  - PostgreSQL: :class:`PooledCommit`. Each unit of work is its own transaction, in a pool
    of ``WRITE_THREADS`` threads per engine (concurrent on the server); a unit whose insert
    lost a unique-key race (``IntegrityError``) runs once more and then sees the winner.
- The future is resolved only after the commit (durable as a plain ``write_tx``). An event
  loop awaits it with ``asyncio.wrap_future``: no thread of the API waits for the store.
"""

from __future__ import annotations

import queue
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gateway.domain.messages import Envelope
from gateway.domain.status import DossierStatus
from gateway.store import dossier_states, idempotency, messages, nonces, payments
from gateway.store.db import write_tx
from gateway.store.idempotency import KeyClaim, KeyPolicy, StoredResponse
from gateway.store.message_views import Acceptance

R = TypeVar("R")
Step = Callable[[Connection], object]
WRITE_THREADS = 8  # per PostgreSQL engine: concurrent write transactions


class CommitStrategy(Protocol):
    def submit(self, work: Callable[[Connection], R]) -> Future[R]:
        """Run ``work`` in a write transaction; the future resolves once committed."""
        ...


# -- the unit of work -------------------------------------------------------------------


class SqlUnitOfWork:
    """One command's writes as one transaction (see the module rules)."""

    def __init__(self, strategy: CommitStrategy, keys: KeyPolicy) -> None:
        self._strategy = strategy
        self._steps: list[Step] = []
        self._committed = False
        self.messages = _Messages(self._steps)
        self.dossier_states = _DossierStates(self._steps)
        self.idempotency = _IdempotencyKeys(self._steps, keys)
        self.payments = _Payments(self._steps)
        self.nonces = _Nonces(self._steps)

    def __enter__(self) -> SqlUnitOfWork:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._steps.clear()

    def commit(self) -> Future[None]:
        if self._committed:
            raise RuntimeError("a unit of work commits once")
        self._committed = True
        steps = tuple(self._steps)
        self._steps.clear()
        return self._strategy.submit(partial(_run, steps))


def _run(steps: Sequence[Step], connection: Connection) -> None:
    for step in steps:
        step(connection)


class _Messages:
    __slots__ = ("_steps",)

    def __init__(self, steps: list[Step]) -> None:
        self._steps = steps

    def add(
        self,
        envelope: Envelope,
        *,
        dossier_code: str | None,
        partner: str,
        keep_existing: bool = False,
    ) -> None:
        by_id = {envelope.message_id: Acceptance(envelope, dossier_code, partner)}
        self._steps.append(
            partial(messages.insert_accepted, by_id=by_id, keep_existing=keep_existing)
        )


class _DossierStates:
    __slots__ = ("_steps",)

    def __init__(self, steps: list[Step]) -> None:
        self._steps = steps

    def advance(self, dossier_code: str, status: DossierStatus, message_id: str) -> None:
        self._steps.append(
            partial(
                dossier_states.advance, dossier_code=dossier_code, new=status, message_id=message_id
            )
        )


class _IdempotencyKeys:
    __slots__ = ("_keys", "_steps")

    def __init__(self, steps: list[Step], keys: KeyPolicy) -> None:
        self._steps = steps
        self._keys = keys

    def record(self, claim: KeyClaim, response: StoredResponse) -> None:
        self._steps.append(
            partial(idempotency.record, claim=claim, response=response, policy=self._keys)
        )

    def reserve(self, claim: KeyClaim) -> None:
        self._steps.append(partial(idempotency.reserve, claim=claim, policy=self._keys))

    def answer(self, claim: KeyClaim, response: StoredResponse) -> None:
        self._steps.append(
            partial(idempotency.answer, claim=claim, response=response, policy=self._keys)
        )

    def release(self, claim: KeyClaim) -> None:
        self._steps.append(partial(idempotency.release, claim=claim))


class _Payments:
    __slots__ = ("_steps",)

    def __init__(self, steps: list[Step]) -> None:
        self._steps = steps

    def add(self, payment: payments.NewPayment) -> None:
        self._steps.append(partial(payments.insert, payment=payment))

    def finish(self, reference: str, state: payments.Finished, via: str) -> None:
        self._steps.append(partial(payments.finish, reference=reference, state=state, via=via))

    def set_announced(self, reference: str, message_id: str, transaction_id: str) -> None:
        self._steps.append(
            partial(
                payments.set_announced,
                reference=reference,
                message_id=message_id,
                transaction_id=transaction_id,
            )
        )


class _Nonces:
    __slots__ = ("_steps",)

    def __init__(self, steps: list[Step]) -> None:
        self._steps = steps

    def spend(self, nonce: str, at: datetime) -> None:
        self._steps.append(partial(nonces.spend, nonce=nonce, at=at))


def units_of_work(engine: Engine, keys: KeyPolicy | None = None) -> Callable[[], SqlUnitOfWork]:
    """A factory of units of work on ``engine``, committed by its strategy; ``keys``:
    how long ``Idempotency-Key`` records live (default :class:`KeyPolicy`)."""
    strategy = commit_strategy(engine)
    policy = keys or KeyPolicy()
    return lambda: SqlUnitOfWork(strategy, policy)


# -- commit strategies --------------------------------------------------------------------


_STRATEGIES: weakref.WeakKeyDictionary[Engine, CommitStrategy] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def commit_strategy(engine: Engine) -> CommitStrategy:
    """The engine's strategy: :class:`GroupCommit` on SQLite, :class:`PooledCommit` else."""
    with _GUARD:
        strategy = _STRATEGIES.get(engine)
        if strategy is None:
            sqlite = engine.dialect.name == "sqlite"
            strategy = GroupCommit(engine) if sqlite else PooledCommit(engine)
            _STRATEGIES[engine] = strategy
        return strategy


class PooledCommit:
    """Each work item its own transaction, in a small pool of threads (PostgreSQL)."""

    def __init__(self, engine: Engine, *, threads: int = WRITE_THREADS) -> None:
        self._engine = weakref.ref(engine)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="tthc-write")

    def submit(self, work: Callable[[Connection], R]) -> Future[R]:
        return self._pool.submit(self._transaction, work)

    def _transaction(self, work: Callable[[Connection], R]) -> R:
        engine = _alive(self._engine)
        try:
            with write_tx(engine) as connection:
                return work(connection)
        except IntegrityError:  # a concurrent transaction inserted one of its keys first
            with write_tx(engine) as connection:
                return work(connection)


def _alive(engine: weakref.ref[Engine]) -> Engine:
    found = engine()
    if found is None:
        raise RuntimeError("unit of work: the engine is gone")
    return found


@dataclass(frozen=True)
class _Item:
    work: Callable[[Connection], Any]
    future: Future[Any]


class GroupCommit:
    """Runs handed-over work items in batched transactions (SQLite; see the module rules)."""

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

    @property
    def running(self) -> bool:
        """Whether the committer thread is up (it stops when idle)."""
        return self._thread is not None

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
