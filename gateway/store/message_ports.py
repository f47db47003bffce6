"""What the messaging layer sees of the store: the outbox, the ledger, the timeline, the
evidence log, as Protocols (the flows' repositories are in :mod:`gateway.store.repositories`).

The implementations are the store's: ``MessageStore`` (outbox), ``Ledger``,
``BatchTimeline`` and ``EvidenceLog``; tests may hand the relay and the worker any object
with these shapes. Each method's rules are stated where it is implemented.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from gateway.domain.messages import Envelope
from gateway.store.evidence import EvidenceEntry
from gateway.store.ledger import Claim
from gateway.store.messages import EventRecord


class Outbox(Protocol):
    """What the relay needs of the message store (``gateway.store.messages.MessageStore``)."""

    def pending_outbox(self, limit: int = 100, *, lease: timedelta = ...) -> list[Envelope]: ...

    def mark_published(self, message_ids: Iterable[str]) -> None: ...


class LedgerPort(Protocol):
    def claim(self, consumer: str, message_id: str, lease: timedelta) -> Claim: ...

    def complete(
        self, consumer: str, message_id: str, outcome: dict[str, Any], *, token: str | None = None
    ) -> None: ...

    def release(self, consumer: str, message_id: str, *, token: str | None = None) -> bool: ...


@runtime_checkable
class BatchLedgerPort(Protocol):
    """A ledger that claims and completes a whole batch per transaction (the store's ledger)."""

    def claim_many(
        self, consumer: str, message_ids: Sequence[str], lease: timedelta
    ) -> dict[str, Claim]: ...

    def complete_many(
        self, consumer: str, outcomes: Mapping[str, dict[str, Any]], *, token: str
    ) -> list[str]: ...


@runtime_checkable
class RenewingLedgerPort(Protocol):
    """A ledger whose leases the heartbeat can renew (the store's ledger)."""

    def renew(self, consumer: str, held: Mapping[str, Sequence[str]], lease: timedelta) -> int: ...


class Timeline(Protocol):
    def record_events(
        self, events: Sequence[EventRecord], *, due: Mapping[str, datetime] | None = None
    ) -> None: ...


class Evidence(Protocol):
    def append_many(self, entries: Sequence[EvidenceEntry]) -> Sequence[object]: ...
