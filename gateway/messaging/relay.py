"""The outbox relay: moves accepted messages from the store's outbox onto the transport.

Rules:
- A batch is taken from the outbox with a lease (another relay will not take the same rows),
  published with confirms, and only then marked published (which records the ``published``
  event). A crash between the two leaves the rows in the outbox: they are published again when
  the lease runs out; consumers deduplicate on the message id (at-least-once, never lost).
- A message committed but never published (the process died right after the commit) is still in
  the outbox: the relay of the next start publishes it.
- A failed batch (the broker, the store or its driver failing: any exception) is retried with
  backoff; the relay never drops a row and its thread never dies. The relay retries the
  batch it holds (the same rows, still under its lease) rather than waiting for the lease
  to run out, while less than half the lease has gone; after that the rows are left to
  whichever relay takes them next. A streak of failures (a
  database or broker outage) is logged once when it starts and once when it ends
  (:class:`~gateway.store.outage.OutageLog`), not once per attempt.
- ``on_published`` (optional) runs after the broker confirmed a batch and before the batch
  is marked published: the composition root writes the evidence of the accepted messages
  there, in one batch, durably (a crash before it re-publishes the batch and writes it then).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from gateway.domain.messages import Envelope
from gateway.messaging.port import Transport
from gateway.store.message_ports import Outbox
from gateway.store.outage import OutageLog

log = logging.getLogger(__name__)


class OutboxRelay:
    """Publishes pending outbox rows in batches (see the module rules)."""

    def __init__(
        self,
        store: Outbox,
        transport: Transport,
        batch_size: int = 200,
        *,
        lease: timedelta = timedelta(seconds=30),
        idle_wait: float = 0.05,
        backoff: Sequence[float] = (0.2, 0.5, 1.0, 2.0, 5.0),
        on_published: Callable[[Sequence[Envelope]], object] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"relay batch_size must be >= 1, got {batch_size}")
        self.store = store
        self.transport = transport
        self.batch_size = batch_size
        self.lease = lease
        self.idle_wait = idle_wait
        self.backoff = tuple(backoff)
        self.on_published = on_published
        self.published = 0
        self.outage = OutageLog("outbox relay", log, backoff=self.backoff)
        self._held: list[Envelope] = []  # a failed batch, retried while its lease is young
        self._held_until = 0.0  # monotonic time after which the held batch is let go

    def _batch(self) -> list[Envelope]:
        if self._held and time.monotonic() < self._held_until:
            return self._held
        self._held = []
        envelopes = self.store.pending_outbox(self.batch_size, lease=self.lease)
        self._held_until = time.monotonic() + self.lease.total_seconds() / 2
        return envelopes

    def publish_once(self) -> int:
        """Publish one batch; returns how many were published (0 when the outbox is empty).

        Raises what the transport raises; the batch then stays in the outbox.
        """
        envelopes = self._batch()
        if not envelopes:
            return 0
        self._held = envelopes  # until it is marked published
        self.transport.publish(envelopes)
        if self.on_published is not None:
            self.on_published(envelopes)
        self.store.mark_published([envelope.message_id for envelope in envelopes])
        self._held = []
        self.published += len(envelopes)
        return len(envelopes)

    def drain(self) -> int:
        """Publish until the outbox has nothing due; returns how many were published."""
        total = 0
        while count := self.publish_once():
            total += count
        return total

    def run(self, stop: threading.Event) -> None:
        """Relay until ``stop`` is set; failures back off and retry (the thread never dies)."""
        while not stop.is_set():
            try:
                count = self.publish_once()
            except Exception as error:  # noqa: BLE001 - store, broker or driver: back off, retry
                stop.wait(self.outage.failed(error))
                continue
            self.outage.recovered()
            if count < self.batch_size:
                stop.wait(self.idle_wait)
