"""The faults, one injector per case; each runs while the load is going and then heals.

An injector gets a :class:`FaultContext` and returns the :class:`Window` it was active
(monotonic times): the fault ENDS when whatever it broke answers again (a killed process
restarted and ready, a restarted server accepting connections, a partner healthy).

Rules:
- Bounded: a fault lasts ``fault_seconds`` (restarts: an outage of ``outage_seconds`` in
  the middle of the load), then heals; every wait has a timeout.
- Shared servers (RabbitMQ, PostgreSQL) are restored in ``finally`` and the injector
  returns only once they answer a real client again, even when something failed.
- Mock faults are healed without ``/_mock/reset`` (which would wipe the state we count):
  the healthy baseline (:func:`partner_baseline`: a small latency, or ``error_rate`` 0) is
  installed again as the newest spec, and the mocks apply only the newest matching one.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from bench.chaos import services
from bench.chaos.stack import ChaosStack

MOCK_MAX_LATENCY_MS = 120_000  # mocks/_faults.py MAX_LATENCY_MS: the mocks refuse more
DEFAULT_LEASE_SECONDS = 300.0  # gateway/process.py before worker.lease_seconds existed


def default_lease_seconds(tree: Path) -> float:
    """The lease the tree's workers use by default: ``worker.lease_seconds`` in its
    ``config/default.yaml`` when that setting exists, else the old fixed 5 minutes."""
    data = yaml.safe_load((tree / "config" / "default.yaml").read_text("utf-8")) or {}
    value = (data.get("worker") or {}).get("lease_seconds")
    return float(value) if value else DEFAULT_LEASE_SECONDS


@dataclass
class Window:
    started: float = 0.0
    ended: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass
class FaultContext:
    stack: ChaosStack
    start_at: float
    fault_seconds: float
    kill_every: float = 5.0
    outage_seconds: float = 10.0
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    slow_factor: float = 2.0
    partner_latency_ms: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def begin(self, offset: float = 0.0) -> float:
        delay = self.start_at + offset - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return time.monotonic()

    @property
    def mid_offset(self) -> float:
        """Start an outage so that it sits in the middle of the fault window."""
        return max(0.0, (self.fault_seconds - self.outage_seconds) / 2)


Injector = Callable[[FaultContext], Window]


def _kill_in_turn(ctx: FaultContext, names: tuple[str, ...], what: str) -> Window:
    window = Window(started=ctx.begin())
    kills = 0
    while time.monotonic() < window.started + ctx.fault_seconds:
        ctx.stack.restart(names[kills % len(names)])  # SIGKILL, then started again at once
        kills += 1
        time.sleep(ctx.kill_every)
    ctx.stack.ensure_running()
    window.ended = time.monotonic()
    window.notes.append(
        f"{kills} {what} SIGKILLed and restarted at once, every {ctx.kill_every:g} s"
    )
    return window


def worker_kill(ctx: FaultContext) -> Window:
    return _kill_in_turn(ctx, ("worker-1", "worker-2"), "worker processes")


def worker_kill_once(ctx: FaultContext) -> Window:
    """The issue's scenario: a worker SIGKILLed once, a quarter of the way into the load
    (after about 50 of 200 dossiers), and a new worker started in its place."""
    window = Window(started=ctx.begin())
    time.sleep(ctx.fault_seconds / 4)
    ctx.stack.procs["worker-1"].kill()
    ctx.stack.procs["worker-1"].start()
    ctx.stack.wait_ready("worker-1", 60)
    window.ended = time.monotonic()
    window.notes.append("worker-1 SIGKILLed once, a quarter of the way in; a new one started")
    time.sleep(max(0.0, window.started + ctx.fault_seconds - time.monotonic()))
    return window


def serve_kill(ctx: FaultContext) -> Window:
    return _kill_in_turn(ctx, ("serve-1", "serve-2"), "serve processes")


def commit_publish_crash(ctx: FaultContext, freeze_seconds: float = 1.5) -> Window:
    """Freeze every worker (each runs an outbox relay) so that the serve processes commit
    messages the relays have not published, SIGKILL them frozen, start them again."""
    window = Window(started=ctx.begin())
    cycles = 0
    workers = ("worker-1", "worker-2")
    while time.monotonic() < window.started + ctx.fault_seconds:
        for name in workers:
            ctx.stack.procs[name].signal(signal.SIGSTOP)
        time.sleep(freeze_seconds)
        for name in workers:
            ctx.stack.procs[name].kill()
            ctx.stack.procs[name].start()
        for name in workers:
            ctx.stack.wait_ready(name, 60)
        cycles += 1
        time.sleep(max(0.0, ctx.kill_every - freeze_seconds))
    ctx.stack.ensure_running()
    window.ended = time.monotonic()
    window.notes.append(
        f"{cycles} cycles: both workers frozen {freeze_seconds:g} s while messages were "
        "committed, SIGKILLed, restarted"
    )
    return window


def rabbitmq_restart(ctx: FaultContext) -> Window:
    window = Window(started=ctx.begin(ctx.mid_offset))
    try:
        services.stop_rabbitmq_app()
        time.sleep(ctx.outage_seconds)
    finally:
        window.ended = services.restore_rabbitmq(ctx.stack.amqp_url)
    window.notes.append(
        f"rabbitmqctl stop_app, {ctx.outage_seconds:g} s down, start_app: "
        f"{window.ended - window.started:.1f} s without a broker"
    )
    return window


def postgres_restart(ctx: FaultContext) -> Window:
    window = Window(started=ctx.begin(ctx.mid_offset))
    try:
        services.restart_postgres()
    finally:
        window.ended = services.restore_postgres(ctx.stack.postgres_url)
    window.notes.append(
        f"pg_ctlcluster restart: {window.ended - window.started:.1f} s until SELECT 1 answered"
    )
    return window


def _mock_faults(ctx: FaultContext, spec: dict[str, Any]) -> None:
    for partner, route in (("portal", "*"), ("city", "POST /events")):
        response = requests.post(
            f"{ctx.stack.mocks_url}/{partner}/_mock/faults",
            json={**spec, "route": route},
            timeout=10,
        )
        response.raise_for_status()


def partner_baseline(mocks_url: str, latency_ms: int) -> None:
    """Every portal and city call answers after ``latency_ms`` (0: at once): the healthy
    state. Installed as the newest spec, it also ends any earlier fault on those mocks."""
    spec: dict[str, Any] = {"route": "*", "latency_ms": latency_ms}
    if latency_ms <= 0:
        spec = {"route": "*", "error_rate": 0.0}
    for partner in ("portal", "city"):
        response = requests.post(f"{mocks_url}/{partner}/_mock/faults", json=spec, timeout=10)
        response.raise_for_status()


def _heal(ctx: FaultContext) -> None:
    partner_baseline(ctx.stack.mocks_url, ctx.partner_latency_ms)


def _partner_fault(ctx: FaultContext, spec: dict[str, Any], what: str) -> Window:
    window = Window(started=ctx.begin())
    try:
        _mock_faults(ctx, spec)
        time.sleep(ctx.fault_seconds)
    finally:
        _heal(ctx)
        window.ended = time.monotonic()
    window.notes.append(f"portal and city {what} for {ctx.fault_seconds:g} s, then healthy")
    return window


def partner_500(ctx: FaultContext) -> Window:
    return _partner_fault(ctx, {"status": 500}, "answered HTTP 500")


def partner_timeout(ctx: FaultContext) -> Window:
    return _partner_fault(ctx, {"timeout": True}, "hung every call (timeout fault)")


def slow_delay_ms(ctx: FaultContext) -> int:
    return round(ctx.slow_factor * ctx.lease_seconds * 1000)


def slow_precheck(lease_seconds: float, slow_factor: float) -> str | None:
    delay = slow_factor * lease_seconds * 1000
    if delay > MOCK_MAX_LATENCY_MS:
        return (
            f"needs {delay / 1000:.0f} s of latency per call ({slow_factor:g} x a lease of "
            f"{lease_seconds:g} s) but the mocks accept at most {MOCK_MAX_LATENCY_MS // 1000} s; "
            "pass a shorter --lease-seconds once the lease is configurable"
        )
    return None


def slow_partner(ctx: FaultContext) -> Window:
    delay = slow_delay_ms(ctx)
    window = _partner_fault(ctx, {"latency_ms": delay}, f"answered after {delay / 1000:g} s")
    window.notes.append(f"lease assumed {ctx.lease_seconds:g} s")
    return window


def cluster_node_kill(ctx: FaultContext) -> Window:
    """Kill the cluster node the gateway's broker URL names; it stays down for the case."""
    cluster = ctx.extra["cluster"]
    window = Window(started=ctx.begin(ctx.mid_offset))
    cluster.kill(0)
    window.ended = time.monotonic()
    window.notes.append(
        f"node {cluster.nodes[0].name} (the first in TTHC_BROKER__URL) SIGKILLed; "
        "kept down until the counts were taken"
    )
    return window
