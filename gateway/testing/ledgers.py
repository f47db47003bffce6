"""Ledgers in memory for tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from adapters.payment.reconcile import UnfinishedPayment, Via


@dataclass
class _Entry:
    payment: UnfinishedPayment
    state: Literal["pending", "paid", "failed"] = "pending"
    via: str = ""


class InMemoryLedger:
    """A :class:`~adapters.payment.reconcile.PaymentLedger` in memory; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def add(self, payment: UnfinishedPayment) -> None:
        with self._lock:
            self._entries[payment.reference] = _Entry(payment)

    def state(self, reference: str) -> str:
        with self._lock:
            return self._entries[reference].state

    def list_unfinished(
        self, older_than: datetime, newer_than: datetime
    ) -> Sequence[UnfinishedPayment]:
        with self._lock:
            return [
                entry.payment
                for entry in self._entries.values()
                if entry.state == "pending" and newer_than < entry.payment.created_at < older_than
            ]

    def _mark(self, reference: str, state: Literal["paid", "failed"], via: Via) -> bool:
        with self._lock:
            entry = self._entries.get(reference)
            if entry is None or entry.state != "pending":
                return False
            entry.state, entry.via = state, via
            return True

    def mark_paid(self, reference: str, via: Via) -> bool:
        return self._mark(reference, "paid", via)

    def mark_failed(self, reference: str, via: Via) -> bool:
        return self._mark(reference, "failed", via)
