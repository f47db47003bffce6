"""``then``: a :class:`concurrent.futures.Future` mapped through a function.

Rules:
- The mapped future resolves when the source does: with ``fn(result)``, or with the
  source's exception (or ``fn``'s own).
- Cancelling the mapped future does not cancel the source (a write handed to the store
  goes on); the source's outcome is then dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def then(source: Future[T], fn: Callable[[T], R]) -> Future[R]:
    """A future of ``fn(source.result())`` (see the module rules)."""
    mapped: Future[R] = Future()

    def settle(done: Future[T]) -> None:
        if not mapped.set_running_or_notify_cancel():
            return  # cancelled by its waiter
        if done.cancelled():
            mapped.set_exception(RuntimeError("the source future was cancelled"))
            return
        error = done.exception()
        if error is not None:
            mapped.set_exception(error)
            return
        try:
            mapped.set_result(fn(done.result()))
        except Exception as failure:  # noqa: BLE001 - handed to the waiter
            mapped.set_exception(failure)

    source.add_done_callback(settle)
    return mapped
