"""Scenario helpers for the worker tests: a worker in a thread, signed messages, counters."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from gateway.domain.messages import Envelope, MessageType
from gateway.messaging.port import RetryPolicy, Transport
from gateway.messaging.relay import OutboxRelay
from gateway.messaging.worker import Worker
from gateway.store.batch_timeline import BatchTimeline
from gateway.store.ledger import Claim, Ledger
from gateway.store.messages import Acceptance

from .conftest import FAST_RETRY, Backend

SYNC = MessageType.PORTAL_DOSSIER_SYNC.value
CONSUMER = "portal-sync"


class CountingHandler:
    """Counts calls per message id; ``fail`` decides per envelope whether to raise."""

    def __init__(self, fail: Callable[[Envelope], Exception | None] | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, envelope: Envelope) -> dict[str, str]:
        with self._lock:
            self.calls[envelope.message_id] += 1
        if self.fail is not None and (error := self.fail(envelope)) is not None:
            raise error
        return {"MaHoSo": "ok"}


class OneByOneLedger:
    """The ledger without its batch operations: the worker's one-claim-per-message path."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def claim(self, consumer: str, message_id: str, lease: timedelta) -> Claim:
        return self._ledger.claim(consumer, message_id, lease)

    def complete(
        self, consumer: str, message_id: str, outcome: dict, *, token: str | None = None
    ) -> None:  # type: ignore[type-arg]
        self._ledger.complete(consumer, message_id, outcome, token=token)

    def release(self, consumer: str, message_id: str, *, token: str | None = None) -> bool:
        return self._ledger.release(consumer, message_id, token=token)


def sign(
    backend: Backend, message_id: str, body: bytes | None = None, **overrides: str
) -> Envelope:
    return backend.stack.signer.sign(
        message_id=message_id,
        type=overrides.get("type", SYNC),
        recipient=overrides.get("recipient", "portal"),
        body=body or f'{{"MaHoSo": "000.00.00.H26-241120-{message_id[-4:]:0>4}"}}'.encode(),
        correlation_id=f"corr-{message_id}",
    )


def accept(backend: Backend, envelopes: list[Envelope]) -> None:
    backend.stack.store.accept_many([Acceptance(e, None, "portal") for e in envelopes])


def make_worker(
    backend: Backend,
    transport: Transport,
    handler: CountingHandler,
    *,
    lease: timedelta = timedelta(seconds=30),
    batch_ledger: bool = True,
) -> Worker:
    ledger: object = Ledger(backend.stack.engine)
    if not batch_ledger:
        ledger = OneByOneLedger(Ledger(backend.stack.engine))
    return Worker(
        transport,
        backend.stack.verifier,
        ledger,  # type: ignore[arg-type]
        BatchTimeline(backend.stack.engine),
        backend.stack.evidence,
        {SYNC: handler},
        CONSUMER,
        lease=lease,
    )


def relay_for(backend: Backend, transport: Transport, lease: float = 1.0) -> OutboxRelay:
    return OutboxRelay(backend.stack.store, transport, 200, lease=timedelta(seconds=lease))


def run_until(
    target: Callable[[threading.Event], None],
    done: Callable[[], bool],
    timeout: float = 30.0,
) -> None:
    """Run ``target(stop)`` in a thread until ``done()``; stop it; fail on timeout."""
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert thread.is_alive(), "the worker thread died"
            assert time.monotonic() < deadline, f"not done after {timeout}s"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive(), "the worker did not stop when asked"


def parked_reasons(transport: Transport) -> dict[str, str]:
    return {p.envelope.message_id: p.reason for p in transport.list_parked(1000)}


__all__ = ["FAST_RETRY", "RetryPolicy"]
