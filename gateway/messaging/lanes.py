"""Lanes: the deliveries of one batch handled side by side, one dossier's in order.

A worker's handlers spend their time waiting on partners (a portal sync is two calls), so a
batch handled one message after another drains no faster than the partner answers one
call. :func:`run_lanes` handles a batch's deliveries on up to ``concurrency`` threads.

Rules:
- A lane is every delivery of the batch with the same dossier code (``x-dossier-code``), in
  batch order, handled one after another: a dossier's sync and its progress are never
  overtaken by each other inside a batch. A delivery without a dossier code is a lane of
  its own.
- ``concurrency`` 1, or one lane, runs in the caller's thread, in batch order.
- Every lane runs to its end before :func:`run_lanes` returns, even when another lane
  raised (no handler is left running while the caller releases its claims); then the
  first error, in batch order, is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from gateway.messaging.port import Delivery

HEADER_DOSSIER = "x-dossier-code"


def lanes_of(deliveries: Sequence[Delivery], indices: Sequence[int]) -> list[list[int]]:
    """Group ``indices`` (positions in ``deliveries``) into lanes, batch order kept."""
    lanes: dict[str, list[int]] = {}
    for index in indices:
        envelope = deliveries[index].envelope
        code = envelope.headers.get(HEADER_DOSSIER)
        key = f"dossier:{code}" if code else f"message:{envelope.message_id}:{index}"
        lanes.setdefault(key, []).append(index)
    return list(lanes.values())


class LaneRunner:
    """Runs lanes on a pool of ``concurrency`` threads, created on first use."""

    def __init__(self, concurrency: int, name: str = "worker") -> None:
        if concurrency < 1:
            raise ValueError(f"worker concurrency must be >= 1, not {concurrency}")
        self.concurrency = concurrency
        self._name = name
        self._pool: ThreadPoolExecutor | None = None

    def run(self, lanes: Sequence[Sequence[int]], handle: Callable[[int], None]) -> None:
        """Call ``handle(index)`` for every index, each lane in order (module rules)."""
        if self.concurrency == 1 or len(lanes) <= 1:
            for index in sorted(i for lane in lanes for i in lane):
                handle(index)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=self._name)
        futures: list[tuple[int, Future[None]]] = [
            (lane[0], self._pool.submit(_run_lane, lane, handle)) for lane in lanes if lane
        ]
        errors: list[tuple[int, BaseException]] = []
        for first, future in futures:
            error = future.exception()  # waits for the lane to end
            if error is not None:
                errors.append((first, error))
        if errors:
            raise min(errors, key=lambda pair: pair[0])[1]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _run_lane(lane: Sequence[int], handle: Callable[[int], None]) -> None:
    for index in lane:
        handle(index)
