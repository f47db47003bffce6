"""Store against queue: every parked message is ``parked`` in the store, and says why.

What it is for: the worker records ``parked`` on a message's timeline in the step that parks it,
but a copy can reach the parked queue without a worker deciding it (RabbitMQ's delivery limit
dead-letters a message that crashed every consumer that touched it; a process killed between
the two writes). ``tthc-gateway messages reconcile`` and the worker's periodic job compare the
two, so ops listings, ``GET /v1/admin/messages?status=parked`` and ``tthc_messages_parked``
agree with the queue.

Rules:
- The queue is the truth for what waits for an operator: a message found in the parked queue
  whose store status is not ``parked`` is a **mismatch**; with ``fix`` it gets a ``parked``
  event with the queue's reason (the same event the worker writes), so it is visible at once.
  A copy a consumer is being handed at that moment is not in the scan; the next run sees it.
- A message the store calls ``parked`` that the parked queue does not hold is reported
  (``store_only``), never changed: it may have been taken for a replay a moment ago. Only
  known when the whole parked queue was read (fewer than ``limit`` copies).
- A parked copy whose message id the store does not know is reported (``unknown``): nothing
  the gateway accepted, e.g. published straight into the broker.
- Only a copy that is provably the stored message (its body equals the stored body, and its
  signature is the stored one or verifies with the gateway's keys, age and retention aside)
  can mark a message parked (so a stored message that itself fails verification shows
  parked); any other copy with a known id is reported as ``foreign`` (a forgery or a tampered
  copy) and changes nothing.
- Reading the parked queue moves nothing (``Transport.list_parked``); at most ``limit``
  parked copies and ``limit`` parked store rows are compared per run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.domain.errors import SignatureInvalid
from gateway.domain.messages import Envelope
from gateway.messaging.port import ParkedMessage, Transport
from gateway.store.messages import EventRecord, MessageStore

log = logging.getLogger(__name__)


class Verifier(Protocol):
    def verify(
        self, envelope: Envelope, *, check_age: bool = ..., check_retention: bool = ...
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Mismatch:
    message_id: str
    store_status: str
    queue_reason: str


@dataclass
class ReconcileReport:
    """What one comparison found (and fixed)."""

    parked_in_queue: int = 0
    parked_in_store: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    store_only: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        """True when nothing is left that disagrees (mismatches fixed count as resolved)."""
        unresolved = [m for m in self.mismatches if m.message_id not in self.fixed]
        return not unresolved and not self.store_only

    def as_dict(self) -> dict[str, object]:
        return {
            "consistent": self.consistent,
            "parkedInQueue": self.parked_in_queue,
            "parkedInStore": self.parked_in_store,
            "mismatches": [
                {"messageId": m.message_id, "storeStatus": m.store_status, "reason": m.queue_reason}
                for m in self.mismatches
            ],
            "fixed": self.fixed,
            "storeOnly": self.store_only,
            "unknown": self.unknown,
            "foreign": self.foreign,
        }


def _is_ours(store: MessageStore, verifier: Verifier, copy: ParkedMessage) -> bool:
    stored = store.get_envelope(copy.envelope.message_id)
    if stored is None or stored.body != copy.envelope.body:
        return False
    if stored.jws == copy.envelope.jws:  # the store's own copy, whether it verifies or not
        return True
    try:
        verifier.verify(copy.envelope, check_age=False, check_retention=False)
    except SignatureInvalid:
        return False
    return True


def reconcile(
    store: MessageStore,
    transport: Transport,
    verifier: Verifier,
    *,
    fix: bool = False,
    limit: int = 10_000,
) -> ReconcileReport:
    """Compare the parked queue with the store's statuses (see the module rules)."""
    report = ReconcileReport()
    parked = transport.list_parked(limit)
    report.parked_in_queue = len(parked)
    in_queue: dict[str, ParkedMessage] = {}
    for copy in parked:
        in_queue.setdefault(copy.envelope.message_id, copy)
    statuses = store.statuses(list(in_queue))
    events: list[EventRecord] = []
    for message_id, copy in in_queue.items():
        status = statuses.get(message_id)
        reason = copy.reason or "parked"
        if status is None:
            report.unknown.append(message_id)
        elif status != "parked" and not _is_ours(store, verifier, copy):
            report.foreign.append(message_id)
        elif status != "parked":
            report.mismatches.append(Mismatch(message_id, status, reason))
            events.append(
                EventRecord(
                    message_id,
                    "parked",
                    status="parked",
                    detail=f"{reason}: found in the parked queue while the store said {status}",
                )
            )
    if fix and events:
        store.record_events(events)
        report.fixed = [event.message_id for event in events]
    in_store = store.parked_ids(limit)
    report.parked_in_store = len(in_store)
    if len(parked) < limit:  # the whole queue was read: what it lacks is known
        report.store_only = sorted(set(in_store) - set(in_queue))
    return report


def reconcile_job(store: MessageStore, transport: Transport, verifier: Verifier) -> ReconcileReport:
    """The worker's periodic run: fix what the queue proves, log what disagrees."""
    report = reconcile(store, transport, verifier, fix=True)
    if report.fixed:
        log.warning(
            "reconcile: %d message(s) found parked while the store said otherwise; now parked: %s",
            len(report.fixed),
            ", ".join(report.fixed[:20]),
        )
    return report
