"""One chaos case from start to verdict, and the results table.

A case: start a fresh stack (:mod:`.stack`), poll the portal's request log, run the load
(:mod:`.load`) and the fault (:mod:`.faults`) together, wait until every accepted message
is delivered or parked (the *drain*, timed from the later of the fault's end and the last
accepted message), wait a little longer for stragglers (duplicates arriving late), then
count at the mocks (:mod:`.observe`) and stop everything.

Verdict: PASS when lost = 0, duplicates as new = 0, parked = 0 (admin API and queue) and
the drain took at most 60 s; otherwise FAIL with the reasons. A case that cannot be run
as asked (a precondition the gateway or the mocks lack) is NOT RUN, with the reason.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.chaos import faults, services
from bench.chaos.load import Load
from bench.chaos.observe import Admin, Counts, RequestLog, Snapshot, count, settled
from bench.chaos.stack import REPO, ChaosStack

TARGET_DRAIN_SECONDS = 60.0


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    inject: faults.Injector
    shared: str = ""  # "rabbitmq" / "postgres": a shared server is restarted


CASES: dict[str, Case] = {
    "0": Case("0", "no fault (baseline: checks the harness)", lambda ctx: _no_fault(ctx)),
    "1": Case("1", "worker SIGKILLed every few seconds", faults.worker_kill),
    "1s": Case("1s", "the issue's scenario: a worker SIGKILLed once", faults.worker_kill_once),
    "2": Case("2", "serve SIGKILLed while accepting", faults.serve_kill),
    "3": Case("3", "crash between commit and publish", faults.commit_publish_crash),
    "4": Case("4", "RabbitMQ restarted mid-stream", faults.rabbitmq_restart, "rabbitmq"),
    "5": Case("5", "PostgreSQL restarted mid-stream", faults.postgres_restart, "postgres"),
    "6a": Case("6a", "partners answer 500, then healthy", faults.partner_500),
    "6b": Case("6b", "partners time out, then healthy", faults.partner_timeout),
    "7": Case("7", "partners slower than the lease", faults.slow_partner),
    "8": Case("8", "RabbitMQ cluster: a node killed", faults.cluster_node_kill),
}


def _no_fault(ctx: faults.FaultContext) -> faults.Window:
    started = ctx.begin()
    time.sleep(ctx.fault_seconds)
    return faults.Window(started, time.monotonic(), ["no fault injected"])


def expand(cases: str) -> list[str]:
    ids: list[str] = []
    for part in (p.strip() for p in cases.split(",")):
        if not part:
            continue
        chosen = ["6a", "6b"] if part == "6" else [part]
        for case_id in chosen:
            if case_id not in CASES:
                raise ValueError(f"unknown case {case_id!r}; known: {', '.join(CASES)}")
            ids.append(case_id)
    return ids


@dataclass
class Options:
    postgres_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    messages: int = 1000
    fault_seconds: float = 60.0
    lead_seconds: float = 3.0
    kill_every: float = 5.0
    outage_seconds: float = 10.0
    drain_timeout: float = 120.0
    settle_seconds: float = 15.0
    concurrency: int = 8
    retry_budget: float = 90.0
    lease_seconds: float | None = None  # given: passed as TTHC_WORKER__LEASE_SECONDS
    slow_factor: float = 2.0
    work_dir: Path | None = None
    tree: Path = REPO  # the source tree whose gateway runs (default: this checkout)
    partner_latency_ms: int = 50  # a healthy partner's answer time (0: at once)


@dataclass
class Result:
    case: str
    title: str
    verdict: str = "ERROR"
    reasons: list[str] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    drain_seconds: float | None = None
    fault_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    work_dir: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict(result: Result, drain_timeout: float) -> None:
    c = result.counts
    reasons = []
    if c.lost:
        reasons.append(f"lost {c.lost}")
    if c.duplicates_as_new:
        reasons.append(f"{c.duplicates_as_new} delivered again as new")
    if c.parked_api or c.parked_queue > 0:
        reasons.append(f"parked {c.parked_api} (queue {c.parked_queue})")
    if c.parked_queue < 0:
        reasons.append("parked queue depth unknown")
    if result.drain_seconds is None:
        reasons.append(f"not drained within {drain_timeout:.0f} s")
    elif result.drain_seconds > TARGET_DRAIN_SECONDS:
        reasons.append(f"drain {result.drain_seconds:.0f} s > {TARGET_DRAIN_SECONDS:.0f} s")
    if c.accepted == 0:
        reasons.append("nothing was accepted")
    result.reasons = reasons
    result.verdict = "FAIL" if reasons else "PASS"


@contextlib.contextmanager
def _broker(case: Case, options: Options, work_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    if case.id != "8":
        yield options.amqp_url, {}
        return
    from bench.chaos.cluster import RabbitCluster

    with RabbitCluster(work_dir / "cluster") as cluster:
        # every node, as a deployment configures a cluster: the gateway fails over in order
        nodes = ",".join(cluster.url(i) for i in range(len(cluster.nodes)))
        yield nodes, {"cluster": cluster}


def _restore_shared(case: Case, options: Options) -> None:
    if case.shared == "rabbitmq":
        services.restore_rabbitmq(options.amqp_url)
    elif case.shared == "postgres":
        services.restore_postgres(options.postgres_url)


def run_case(case_id: str, options: Options, log: Callable[[str], None] = print) -> Result:
    case = CASES[case_id]
    result = Result(case.id, case.title)
    lease = options.lease_seconds or faults.default_lease_seconds(options.tree)
    if case.id == "7":
        problem = faults.slow_precheck(lease, options.slow_factor)
        if problem:
            result.verdict, result.reasons = "NOT RUN", [problem]
            return result
    base = options.work_dir or Path(tempfile.mkdtemp(prefix="tthc-chaos-"))
    work_dir = base / f"case-{case.id}-{int(time.time())}"
    result.work_dir = str(work_dir)
    worker_env = {}
    if options.lease_seconds is not None:
        worker_env["TTHC_WORKER__LEASE_SECONDS"] = f"{options.lease_seconds:g}"
    if case.id == "7":  # a partner slower than the lease, but within its read timeout
        patience = f"{options.slow_factor * lease * 2 + 5:g}"
        for partner in ("PORTAL", "CITY"):
            worker_env[f"TTHC_ADAPTERS__{partner}__TIMEOUT_READ_SECONDS"] = patience
    try:
        with _broker(case, options, work_dir) as (amqp_url, extra):
            stack = ChaosStack(
                work_dir, options.postgres_url, amqp_url, worker_env=worker_env, tree=options.tree
            )
            if "cluster" in extra:  # look at queues through a node that stays up
                stack.observer_amqp_url = extra["cluster"].url(1)
            try:
                log(f"case {case.id}: starting the stack in {work_dir}")
                stack.start()
                _run_started(case, options, stack, result, lease, extra, log)
            finally:
                stack.close()
    except Exception as error:  # noqa: BLE001 - a broken case is reported, the run goes on
        result.verdict = "ERROR"
        result.reasons.append(f"{type(error).__name__}: {error}")
    finally:
        if case.shared:
            _restore_shared(case, options)
    return result


def _run_started(
    case: Case,
    options: Options,
    stack: ChaosStack,
    result: Result,
    lease: float,
    extra: dict[str, Any],
    log: Callable[[str], None],
) -> None:
    faults.partner_baseline(stack.mocks_url, options.partner_latency_ms)
    if "cluster" in extra:
        queue = f"{stack.prefix}.portal.dossier.sync"
        members = extra["cluster"].quorum_members(queue)
        result.notes.append(f"quorum queue {queue}: members on {members} of 3 nodes")
    requests_log = RequestLog(stack.mocks_url)
    requests_log.start()
    admin = Admin(stack.gateway_urls)
    load = Load(
        stack.gateway_urls,
        options.messages,
        options.lead_seconds + options.fault_seconds,
        tree=stack.tree,
        concurrency=options.concurrency,
        budget_seconds=options.retry_budget,
    )
    context = faults.FaultContext(
        stack,
        start_at=time.monotonic() + options.lead_seconds,
        fault_seconds=options.fault_seconds,
        kill_every=options.kill_every,
        outage_seconds=options.outage_seconds,
        lease_seconds=lease,
        slow_factor=options.slow_factor,
        partner_latency_ms=options.partner_latency_ms,
        extra=extra,
    )
    loader = threading.Thread(target=load.run, name="chaos-load", daemon=True)
    log(
        f"case {case.id}: {options.messages} messages over {load.window_seconds:g} s, fault: {case.title}"
    )
    loader.start()
    try:
        window = case.inject(context)
    finally:
        loader.join(timeout=load.window_seconds + options.retry_budget * 3 + 60)
    result.fault_seconds = window.ended - window.started
    result.notes += window.notes
    if loader.is_alive():
        result.notes.append("the load did not finish within its bound")
    drain_from = max(window.ended, load.finished_at, *[j.accepted_at for j in load.jobs])
    result.drain_seconds = _drain(load, stack, admin, drain_from, options, log)
    _settle(stack, admin, options.settle_seconds)
    requests_log.stop()
    parked = _safe(admin.parked, [], result, "admin API (parked)")
    depths = _safe(stack.depths, None, result, "queue depths")
    snapshot = Snapshot.take(stack.mocks_url)
    parked_queue = -1 if depths is None else max(0, depths.get(f"{stack.prefix}.parked", 0))
    result.counts = count(load.jobs, snapshot, requests_log, parked, parked_queue)
    if result.counts.lost and depths:  # diagnosis only: where the missing messages wait
        waiting = {name: n for name, n in sorted(depths.items()) if n}
        result.notes.append(f"queue depths when counted: {waiting or 'every queue empty'}")
        if "cluster" in extra:
            result.notes.append(f"cluster queues: {extra['cluster'].queue_report(stack.prefix)}")
    for example in result.counts.lost_examples:  # diagnosis only: the gateway's own view
        kind, code, message_id = [*example.split(), "", "", ""][:3]
        if message_id:
            result.notes.append(f"lost {kind} {code}: {stack.message_trail(message_id)}")
        for seen in admin.about(kind, code):
            result.notes.append(
                f"lost {kind} {code}: the gateway says {seen.get('status')} after "
                f"{seen.get('attempts')} attempts, last error {seen.get('lastError')!r}"
            )
    for name, proc in stack.procs.items():
        if not proc.alive:
            code = proc.popen.returncode if proc.popen else None
            result.notes.append(f"{name} was not running at the end (exit code {code})")
        tracebacks = proc.log_text().count("Traceback")
        if tracebacks:
            result.notes.append(f"{name}: {tracebacks} tracebacks in {proc.log_path.name}")
    seen = result.counts.portal_calls_seen.get("DongBoHoSoMC", 0)
    synced = result.counts.by_kind.get("sync", {}).get("delivered", 0)
    if seen < synced:
        result.notes.append(f"portal request log incomplete: {seen} syncs seen, {synced} delivered")
    if requests_log.missed:
        result.notes.append(
            f"portal request log: {requests_log.missed} requests rotated out unseen"
        )
    verdict(result, options.drain_timeout)


def _safe(call: Callable[[], Any], default: Any, result: Result, what: str) -> Any:
    try:
        return call()
    except Exception as error:  # noqa: BLE001
        result.notes.append(f"{what} unavailable: {type(error).__name__}: {str(error)[:200]}")
        return default


def _drain(
    load: Load,
    stack: ChaosStack,
    admin: Admin,
    drain_from: float,
    options: Options,
    log: Callable[[str], None],
) -> float | None:
    """Seconds from ``drain_from`` until every accepted message is delivered or parked."""
    deadline = drain_from + options.drain_timeout
    last_report = 0.0
    while True:
        try:
            parked = admin.parked()
        except Exception:  # noqa: BLE001 - no admin answer: count nothing as parked
            parked = []
        try:
            pending = settled(load.jobs, Snapshot.take(stack.mocks_url), parked)
        except Exception:  # noqa: BLE001 - mocks busy: try again
            pending = -1
        now = time.monotonic()
        if pending == 0:
            return max(0.0, now - drain_from)
        if now > deadline:
            return None
        if now - last_report > 15:
            log(f"  draining: {pending} accepted messages not yet delivered or parked")
            last_report = now
        time.sleep(2.0)


def _settle(stack: ChaosStack, admin: Admin, seconds: float) -> None:
    """Give late copies (redeliveries, retries) a bounded moment to land before counting."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            busy = admin.in_flight()
            depths = stack.depths()
            busy += sum(max(0, n) for q, n in depths.items() if not q.endswith(".parked"))
        except Exception:  # noqa: BLE001
            busy = 1
        if busy == 0:
            return
        time.sleep(2.0)


COLUMNS = (
    "case",
    "fault",
    "msgs",
    "accepted",
    "delivered",
    "lost",
    "dup new",
    "dup calls",
    "parked",
    "drain",
    "verdict",
)


def table(results: list[Result]) -> str:
    rows = [COLUMNS]
    for r in results:
        c = r.counts
        drain = "-" if r.drain_seconds is None else f"{r.drain_seconds:.1f} s"
        rows.append(
            (
                r.case,
                r.title,
                str(c.messages),
                str(c.accepted),
                str(c.delivered),
                str(c.lost),
                str(c.duplicates_as_new),
                str(c.duplicate_calls),
                f"{c.parked_api}/{c.parked_queue if c.parked_queue >= 0 else '?'}",
                drain,
                r.verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in results:
        if r.reasons:
            lines.append(f"case {r.case} {r.verdict}: {'; '.join(r.reasons)}")
        for note in r.notes:
            lines.append(f"case {r.case} note: {note}")
    lines.append(
        "parked = admin API / <prefix>.parked queue; targets: lost 0, dup new 0, parked 0, drain <= 60 s"
    )
    return "\n".join(lines)
