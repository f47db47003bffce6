"""Re-drive from the store: a message its delay tier never gave back is published again.

What it is for: on RabbitMQ a retry tier is a quorum queue whose TTL dead-letters back to the
main exchange (``x-dead-letter-strategy: at-least-once``). Measured on a 3-node RabbitMQ 3.10.8
cluster: when the node holding a tier's leader is SIGKILLed, the new leader's dead-letter worker
can stop forwarding, and the tier keeps the messages (``messages`` > 0, ``messages_ready`` 0)
with nothing that will ever move them. The gateway does not depend on the broker's
dead-lettering alone: the store knows every message not yet delivered and, since the worker
records ``due_at`` for every message it sends to a tier (:mod:`gateway.messaging.worker`, rule
7), when each one should have come back.

Rules:
- Overdue is the store's word (:mod:`gateway.store.due`): status ``published`` or ``retrying``
  and ``due_at`` older than ``now - grace``. A run takes at most ``limit`` of them, most
  overdue first, and pushes their ``due_at`` ahead (by ``grace``, or by how overdue it was when
  longer: the wait doubles) in the transaction that takes them: two workers' re-drives never
  take the same message at once, and a message is re-driven again only if this copy too is
  not handled in time.
- The stored envelope (body, signature and headers as accepted) is published with publisher
  confirms through the transport, a fresh copy to the main exchange (routing key = type). It
  starts at attempt 1: the stranded copy's attempt count and first failure are in the broker,
  not the store, so ``max_attempts`` and the retry budget count again from the re-drive.
- Only after the confirm: one ``redriven`` event per message, its detail saying how overdue it
  was; the status is never changed here.
- A copy handled meanwhile is harmless: the worker's ledger deduplicates by message id (done:
  acked without calling the handler; held by a live worker: deferred).
- A failed publish records nothing and is raised (the periodic job logs it); the claimed
  messages are overdue again one ``grace`` later, and the next run takes the next most overdue
  ones meanwhile (a message that cannot be published never blocks the others). A crash
  between the steps is the same: never lost, at worst sent twice.
- Only for the RabbitMQ transport: the embedded queue keeps its delays in its own table
  (``visible_at``), where nothing can strand; the composition root runs the job only on
  RabbitMQ.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from gateway.messaging.codec import now_utc
from gateway.messaging.port import Transport
from gateway.store.messages import EventKind, EventRecord, MessageStore

log = logging.getLogger(__name__)

#: Messages re-driven per run at most (the job runs every ``broker.redrive_interval_seconds``).
DEFAULT_LIMIT = 500


@dataclass(frozen=True)
class Redriven:
    """One message published again from the store."""

    message_id: str
    type: str
    status: str
    overdue_seconds: float


def redrive(
    store: MessageStore,
    transport: Transport,
    *,
    grace: timedelta,
    limit: int = DEFAULT_LIMIT,
) -> list[Redriven]:
    """Publish again what is overdue, then record it (see the module rules)."""
    if grace <= timedelta(0):
        raise ValueError(f"grace must be positive, got {grace}")
    now = now_utc()
    overdue = store.claim_overdue(grace=grace, limit=limit, now=now)
    if not overdue:
        return []
    transport.publish([item.envelope for item in overdue])
    redriven = [
        Redriven(
            item.envelope.message_id,
            item.envelope.type,
            item.status,
            max(0.0, (now - item.due_at).total_seconds()),
        )
        for item in overdue
    ]
    store.record_events(
        [
            EventRecord(
                item.message_id,
                EventKind.REDRIVEN.value,
                detail=(
                    f"published again from the store: due {item.overdue_seconds:.0f} s ago, "
                    "its delay tier did not give it back"
                ),
            )
            for item in redriven
        ]
    )
    return redriven


def redrive_job(
    store: MessageStore,
    transport: Transport,
    *,
    grace: timedelta,
    limit: int = DEFAULT_LIMIT,
    on_redriven: Callable[[Sequence[Redriven]], None] | None = None,
) -> list[Redriven]:
    """The worker's periodic run: re-drive, count, and say so in the log."""
    redriven = redrive(store, transport, grace=grace, limit=limit)
    if redriven:
        if on_redriven is not None:
            on_redriven(redriven)
        worst = max(item.overdue_seconds for item in redriven)
        log.warning(
            "redrive: %d message(s) not given back by their delay tier (up to %.0f s overdue) "
            "published again from the store: %s",
            len(redriven),
            worst,
            ", ".join(item.message_id for item in redriven[:20]),
        )
    return redriven
