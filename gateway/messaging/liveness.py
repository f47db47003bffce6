"""Worker liveness: a worker process registers, heartbeats, and renews what it holds.

Rules (the registry's rules are in :mod:`gateway.store.workers`):
- :class:`Liveness` registers the process under a fresh worker id (:meth:`Liveness.register`,
  before the consumers start), then :meth:`Liveness.run` heartbeats every ``interval`` seconds
  until its stop event is set; each beat then calls every
  ``renewer`` (the worker's ledger claims in hand, the embedded queue's rows in hand) with
  the lease to renew.
- A beat that fails (the database is away) is logged once per outage and tried again at the
  next interval; the thread never dies of it. A registration found gone (purged, or marked
  stopped) is made again.
- On stop it deregisters: the worker's remaining claims are free at once.
- The lease renewed each beat must be several intervals long, and ``dead_after`` several
  intervals too, so one slow beat never makes a live worker look dead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta

from gateway.store.workers import WorkerRegistry, new_worker_id

log = logging.getLogger(__name__)

#: Renews the leases a worker has in hand, given (worker id, lease).
Renewer = Callable[[str, timedelta], object]


class Liveness:
    """One worker process's registration and heartbeat thread (see the module rules)."""

    def __init__(
        self,
        registry: WorkerRegistry,
        *,
        interval: float = 2.0,
        lease: timedelta = timedelta(seconds=60),
        worker_id: str | None = None,
        renewers: Sequence[Renewer] = (),
    ) -> None:
        if interval <= 0:
            raise ValueError("heartbeat interval: must be positive")
        if lease <= timedelta(seconds=interval * 2):
            raise ValueError("lease: must be longer than two heartbeat intervals")
        self.registry = registry
        self.interval = interval
        self.lease = lease
        self.worker_id = worker_id or new_worker_id()
        self.renewers: list[Renewer] = list(renewers)

    def register(self) -> None:
        """Register this worker (before its consumers claim anything)."""
        self.registry.register(self.worker_id)
        log.info("worker %s registered (heartbeat every %.1f s)", self.worker_id, self.interval)

    def beat(self) -> None:
        """One heartbeat, then every renewer (the loop calls this; tests may too)."""
        if not self.registry.heartbeat(self.worker_id):
            log.warning("worker %s: registration gone; registering again", self.worker_id)
            self.registry.register(self.worker_id)
        for renew in self.renewers:
            renew(self.worker_id, self.lease)

    def run(self, stop: threading.Event) -> None:
        """Heartbeat until ``stop`` is set, then deregister (blocking; run it in a thread)."""
        failing = False
        while not stop.wait(self.interval):
            try:
                self.beat()
            except Exception as error:  # noqa: BLE001 - a heartbeat failure must not kill us
                if not failing:
                    log.warning(
                        "worker %s: heartbeat failed (%s); retrying every %.1f s",
                        self.worker_id,
                        type(error).__name__,
                        self.interval,
                    )
                failing = True
                continue
            if failing:
                log.info("worker %s: heartbeat recovered", self.worker_id)
            failing = False
        self.deregister()

    def deregister(self) -> None:
        """A clean stop: the claims still held become free at once."""
        try:
            self.registry.deregister(self.worker_id)
        except Exception as error:  # noqa: BLE001 - stopping anyway; claims expire with the lease
            log.warning(
                "worker %s: deregistration failed (%s)", self.worker_id, type(error).__name__
            )
