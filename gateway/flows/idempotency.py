"""``Idempotency-Key`` for the API: the port its middleware calls, on the unit of work.

Rules (the records' own rules: ``gateway.store.idempotency``):
- The API's middleware talks to :class:`IdempotencyPort`, never to the store. Each method
  is one unit of work handed over: it answers a future resolved once the write is
  committed (the event loop awaits it; no thread waits for the store).
- An operation whose whole effect is one unit of work (the queued ones) takes no
  reservation: its command carries a :class:`KeyedAnswer` and the flow records the answer
  IN that unit of work, so the key and the effect commit together or not at all.
- Any other operation (its work calls a partner, outside any transaction) reserves the
  key first (:meth:`IdempotencyKeys.reserve_soon`), stores its answer after
  (:meth:`~IdempotencyKeys.answer_soon`), or releases the key when the work failed
  (:meth:`~IdempotencyKeys.release_soon`).
- A key already used fails the future with :class:`KeyAlreadyUsed` (what is stored:
  ``hit`` with the response, ``mismatch``, ``in_progress``); nothing is written then.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from gateway.store.idempotency import IdempotencyResult, KeyAlreadyUsed, KeyClaim, StoredResponse
from gateway.store.repositories import UnitOfWork

__all__ = [
    "IdempotencyKeys",
    "IdempotencyPort",
    "IdempotencyResult",
    "KeyAlreadyUsed",
    "KeyClaim",
    "KeyedAnswer",
    "StoredResponse",
]


@dataclass(frozen=True)
class KeyedAnswer:
    """Record a command's answer under ``claim``, as the API sends it (status, headers)."""

    claim: KeyClaim
    status: int
    headers: Mapping[str, str]

    def response(self, body: bytes) -> StoredResponse:
        return StoredResponse(self.status, body, dict(self.headers))


class IdempotencyPort(Protocol):
    def reserve_soon(self, claim: KeyClaim) -> Future[None]: ...

    def answer_soon(self, claim: KeyClaim, response: StoredResponse) -> Future[None]: ...

    def release_soon(self, claim: KeyClaim) -> Future[None]: ...


class IdempotencyKeys:
    """:class:`IdempotencyPort` on the store's units of work."""

    def __init__(self, units_of_work: Callable[[], UnitOfWork]) -> None:
        self._units_of_work = units_of_work

    def reserve_soon(self, claim: KeyClaim) -> Future[None]:
        with self._units_of_work() as uow:
            uow.idempotency.reserve(claim)
            return uow.commit()

    def answer_soon(self, claim: KeyClaim, response: StoredResponse) -> Future[None]:
        with self._units_of_work() as uow:
            uow.idempotency.answer(claim, response)
            return uow.commit()

    def release_soon(self, claim: KeyClaim) -> Future[None]:
        with self._units_of_work() as uow:
            uow.idempotency.release(claim)
            return uow.commit()
