"""Group commit of ledger completions: handlers keep running while completions are written.

The worker hands each successful message's completion to a :class:`CompletionFlusher` right
after its handler returns; a background thread writes everything queued so far in one
transaction, again and again. Before a batch is acknowledged the worker waits until every
completion of that batch is written (:meth:`CompletionFlusher.wait`).

Rules:
- A completion is durable one flush after its handler returned (a commit's time, a few ms),
  whatever the batch size: a crash repeats only the handlers that returned during the flush in
  progress, never a whole batch.
- A flush that fails is reported to every waiter (the batch is then not acknowledged, and the
  messages come back when their ledger leases run out); the flusher keeps serving.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Completion = tuple[str, dict[str, Any], str | None]


class CompletionFlusher:
    """Writes queued completions with ``write`` (one call per flush) in a daemon thread."""

    def __init__(self, write: Callable[[list[Completion]], None], name: str = "ledger") -> None:
        self._write = write
        self._cv = threading.Condition()
        self._queue: list[Completion] = []
        self._queued = 0  # sequence number of the last queued completion
        self._flushed = 0  # every completion up to this number has been written (or failed)
        self._failed: list[tuple[int, int, BaseException]] = []  # (first, last, error)
        self._thread = threading.Thread(target=self._run, name=f"{name}-flusher", daemon=True)
        self._thread.start()

    def submit(self, completion: Completion) -> int:
        """Queue one completion; returns its sequence number for :meth:`wait`."""
        with self._cv:
            self._queue.append(completion)
            self._queued += 1
            self._cv.notify_all()
            return self._queued

    def wait(self, first: int, last: int, timeout: float = 60.0) -> None:
        """Block until completions ``first..last`` are written; raise if a flush of them failed."""
        with self._cv:
            if not self._cv.wait_for(lambda: self._flushed >= last, timeout):
                raise TimeoutError(f"ledger completions not written within {timeout:.0f} s")
            for start, end, error in self._failed:
                if start <= last and end >= first:
                    raise RuntimeError("ledger completion flush failed") from error

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: bool(self._queue))
                items, self._queue = self._queue, []
                last = self._queued
            error: BaseException | None = None
            try:
                self._write(items)
            except Exception as failure:  # noqa: BLE001 - reported to the waiters
                error = failure
            with self._cv:
                if error is not None:
                    self._failed = [*self._failed[-99:], (last - len(items) + 1, last, error)]
                self._flushed = last
                self._cv.notify_all()
