"""Scenario kit for operations tests: a real worker and relay, a fake partner.

What it is for: tests (unit on the embedded transport + SQLite, integration on
RabbitMQ + PostgreSQL) read as scenarios: submit dossiers, make the partner fail,
drain the worker, replay, count what the partner received.

Rules:
- The partner is a :class:`gateway.testing.partners.FakePartner` (see its rules).
- The real :class:`gateway.messaging.worker.Worker` and
  :class:`gateway.messaging.relay.OutboxRelay` run; only the partner is fake.
- :meth:`Scenario.drain` runs the worker until nothing was handled for ``idle``
  seconds (use short retry delays in the transport's policy).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from gateway.domain.messages import MessageType
from gateway.envelope import EnvelopeVerifier
from gateway.keys import KeyStore
from gateway.messaging.port import Delivery, Disposition, Transport
from gateway.messaging.relay import OutboxRelay
from gateway.messaging.worker import Worker
from gateway.ops.context import OpsContext
from gateway.store.evidence import EvidenceLog
from gateway.store.ledger import Ledger
from gateway.testing.partners import CITIZEN, FakePartner


class _WatchedWorker(Worker):
    last_activity = 0.0
    handled = 0

    def handle_batch(self, deliveries: Sequence[Delivery]) -> list[Disposition]:
        try:
            return super().handle_batch(deliveries)
        finally:
            self.last_activity = time.monotonic()
            self.handled += len(deliveries)


@dataclass
class Scenario:
    """A gateway with a real store, transport, worker and relay, and a fake partner."""

    ctx: OpsContext
    partner: FakePartner
    evidence: EvidenceLog
    worker: _WatchedWorker
    relay: OutboxRelay

    @classmethod
    def start(
        cls,
        engine: Engine,
        transport: Transport,
        keystore: KeyStore,
        *,
        checkpoint_every: int = 1000,
    ) -> Scenario:
        transport.declare()
        ctx = OpsContext.build(engine, transport, keystore)
        evidence = EvidenceLog(engine, keystore=keystore, checkpoint_every=checkpoint_every)
        partner = FakePartner(evidence)
        worker = _WatchedWorker(
            transport,
            EnvelopeVerifier(keystore, max_age=timedelta(days=30)),
            Ledger(engine),
            ctx.store,
            evidence,
            {MessageType.PORTAL_DOSSIER_SYNC.value: partner},
            f"ops-test-{uuid.uuid4().hex[:8]}",
            lease=timedelta(seconds=30),
        )
        return cls(ctx, partner, evidence, worker, OutboxRelay(ctx.store, transport))

    def submit(self, count: int, *, prefix: str = "000.00.00.H26-261127") -> list[str]:
        """Accept ``count`` dossier syncs (as the API does) and relay them; their ids."""
        ids: list[str] = []
        for index in range(count):
            dossier_code = f"{prefix}-{index + 1:04d}"
            body = json.dumps(
                {"MaHoSo": dossier_code, "TrangThaiHoSo": 1, **CITIZEN}, ensure_ascii=False
            ).encode("utf-8")
            envelope = self.ctx.signer.sign(
                message_id=str(uuid.uuid4()),
                type=MessageType.PORTAL_DOSSIER_SYNC,
                recipient="portal",
                body=body,
                correlation_id=f"corr-{dossier_code}",
            )
            self.ctx.store.accept(envelope, dossier_code=dossier_code, partner="portal")
            ids.append(envelope.message_id)
        self.relay.drain()
        return ids

    def drain(
        self,
        *,
        idle: float = 0.6,
        timeout: float = 30.0,
        until: Callable[[], bool] | None = None,
    ) -> int:
        """Run the worker until nothing was handled for ``idle`` s (and ``until()`` holds,
        when given); returns how many deliveries were handled."""
        stop = threading.Event()
        before = self.worker.handled

        def run() -> None:
            try:
                self.worker.run(stop)
            finally:
                self.ctx.transport.close()

        thread = threading.Thread(target=run, name="ops-test-worker", daemon=True)
        self.worker.last_activity = time.monotonic()
        thread.start()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and thread.is_alive():
                if time.monotonic() - self.worker.last_activity >= idle and (
                    until is None or until()
                ):
                    break
                time.sleep(0.05)
            else:
                if thread.is_alive():
                    raise TimeoutError(f"worker still busy after {timeout} s")
        finally:
            stop.set()
            thread.join(timeout=10)
        return self.worker.handled - before

    def close(self) -> None:
        self.evidence.close()
        self.ctx.close()
