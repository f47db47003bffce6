"""Consuming through store outages: pause the consumer while the database is away.

What it is for: a worker that meets a database outage must neither die nor spin. Without
this, each batch taken during the outage fails, goes back to the queue and comes straight
back (RabbitMQ counts every return against the quorum queue's delivery limit, so a long
outage would park healthy messages), and every failure logs a traceback.

Rules:
- :func:`consume_through_outages` runs ``transport.consume_batches`` with ``handle_batch``
  behind a gate. When a batch fails because the store is unavailable
  (:func:`gateway.store.outage.is_store_unavailable`), the batch goes back to the queue as
  the transport does for any failed batch, and the consumer session is stopped: nothing
  more is taken from the queue. The loop then probes the store with backoff (``probe``,
  e.g. ``SELECT 1``), and consumes again once it answers.
- The same happens when the transport itself fails (the embedded queue lives in the
  store): anything ``consume_batches`` raises is logged (once per outage: an
  :class:`~gateway.store.outage.OutageLog`), waited out, and consuming starts again.
  Only ``stop`` ends the loop; the thread never dies of an error.
- ``stop`` stops everything at once: a session in progress stops as it would on ``stop``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from gateway.messaging.port import BatchHandler, Delivery, Disposition, Transport
from gateway.store.outage import OutageLog, is_store_unavailable

log = logging.getLogger(__name__)

LINK_POLL = 0.2  # seconds: how soon a session notices the process's stop


def _session(stop: threading.Event) -> threading.Event:
    """An event set when ``stop`` is (or by whoever ends the session); its link thread ends
    with the session."""
    session = threading.Event()

    def link() -> None:
        while not session.is_set():
            if stop.wait(LINK_POLL):
                session.set()

    threading.Thread(target=link, name="consumer-session", daemon=True).start()
    return session


def wait_for_store(probe: Callable[[], object], outage: OutageLog, stop: threading.Event) -> bool:
    """Probe until the store answers (True) or ``stop`` is set (False)."""
    while not stop.is_set():
        try:
            probe()
        except Exception as error:  # noqa: BLE001 - still away: back off, probe again
            stop.wait(outage.failed(error))
            continue
        return True
    return False


def consume_through_outages(
    transport: Transport,
    types: Sequence[str],
    handle_batch: BatchHandler,
    *,
    probe: Callable[[], object],
    stop: threading.Event,
    max_batch: int = 100,
    outage: OutageLog | None = None,
) -> None:
    """Consume ``types`` with ``handle_batch`` until ``stop``, pausing through store outages."""
    outage = outage or OutageLog("consumer", log)
    while not stop.is_set():
        session = _session(stop)

        def gated(
            deliveries: Sequence[Delivery], session: threading.Event = session
        ) -> Sequence[Disposition]:
            try:
                dispositions = handle_batch(deliveries)
            except Exception as error:
                if is_store_unavailable(error):
                    outage.failed(error)
                    session.set()  # take nothing more until the store is back
                raise
            outage.recovered()
            return dispositions

        try:
            transport.consume_batches(list(types), gated, stop=session, max_batch=max_batch)
        except Exception as error:  # the consumer survives whatever it met
            if not outage.down and not is_store_unavailable(error):
                log.error("consumer: stopped by an error; starting again", exc_info=error)
            stop.wait(outage.failed(error))
        finally:
            session.set()
        if stop.is_set():
            return
        if not outage.down:
            stop.wait(1.0)  # the session ended without an outage: never spin
        elif wait_for_store(probe, outage, stop):
            outage.recovered()
