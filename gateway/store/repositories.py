"""What the flows see of the store: the unit of work and its repositories, as Protocols.

What it is for: a flow function (``gateway.flows``) receives a :class:`UnitOfWork` and
stages the writes of one command on its repositories; ``commit()`` makes them one
transaction. The SQL implementation is ``gateway.store.unit_of_work.SqlUnitOfWork``;
tests may hand a flow any object with this shape.

Rules:
- Staging records what to write and returns at once: no I/O, no answer from the database
  (a repository method returns None). What the database decides (an illegal transition,
  a key already used, a nonce already spent, a body conflict) is raised by the future
  ``commit()`` returns, and then nothing of the unit of work is recorded.
- ``commit()`` resolves its future once the transaction is durable; an event loop awaits
  it (``asyncio.wrap_future``), a worker thread may wait on ``result()``.
- A unit of work is used once, in a ``with`` block; leaving the block discards what was
  staged and not committed.
- Reads that are not part of a command (a status page, the ledger's lookups) use the
  repository modules' read functions and classes directly, outside a unit of work.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import datetime
from types import TracebackType
from typing import Protocol

from gateway.domain.messages import Envelope
from gateway.domain.status import DossierStatus
from gateway.store.idempotency import KeyClaim, StoredResponse
from gateway.store.payments import Finished, NewPayment


class Messages(Protocol):
    """``gateway.store.messages``: a message with its outbox row and ``accepted`` event."""

    def add(
        self,
        envelope: Envelope,
        *,
        dossier_code: str | None,
        partner: str,
        keep_existing: bool = False,
    ) -> None:
        """Accept ``envelope`` (nothing new if that message is stored already; another body
        under its id is a ``Conflict`` unless ``keep_existing``: the first one stands)."""
        ...


class DossierStates(Protocol):
    """``gateway.store.dossier_states``: the last accepted status of each dossier."""

    def advance(self, dossier_code: str, status: DossierStatus, message_id: str) -> None:
        """Move the dossier to ``status`` (``IllegalTransition`` if it may not)."""
        ...


class IdempotencyKeys(Protocol):
    """``gateway.store.idempotency``: ``Idempotency-Key`` records (``KeyAlreadyUsed``
    when the key holds a live record)."""

    def record(self, claim: KeyClaim, response: StoredResponse) -> None:
        """Store the answer with the effect it answers."""
        ...

    def reserve(self, claim: KeyClaim) -> None:
        """Hold the key while work is done outside the store."""
        ...

    def answer(self, claim: KeyClaim, response: StoredResponse) -> None:
        """Store the answer of a reserved key."""
        ...

    def release(self, claim: KeyClaim) -> None:
        """Drop a reservation whose work failed."""
        ...


class Payments(Protocol):
    """``gateway.store.payments``: the payments the gateway created."""

    def add(self, payment: NewPayment) -> None:
        """Record a payment the platform created (``pending``)."""
        ...

    def finish(self, reference: str, state: Finished, via: str) -> None:
        """Move a pending payment to ``paid`` or ``failed`` (a finished one stays)."""
        ...

    def set_announced(self, reference: str, message_id: str, transaction_id: str) -> None:
        """Record the payment's stored ``city.payment.confirmed`` event."""
        ...


class Nonces(Protocol):
    """``gateway.store.nonces``: the portal pushes' nonces."""

    def spend(self, nonce: str, at: datetime) -> None:
        """Spend ``nonce`` (``SignatureInvalid`` ``nonce_reused`` if it was spent)."""
        ...


class UnitOfWork(Protocol):
    """One command's writes, committed as one transaction (see the module rules)."""

    @property
    def messages(self) -> Messages: ...

    @property
    def dossier_states(self) -> DossierStates: ...

    @property
    def idempotency(self) -> IdempotencyKeys: ...

    @property
    def payments(self) -> Payments: ...

    @property
    def nonces(self) -> Nonces: ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def commit(self) -> Future[None]:
        """Hand the staged writes over; resolves once they are committed, or fails."""
        ...
