"""API benchmark: the accept path against a baseline, and the citizen lookup pass-through.

Run: ``.venv/bin/python bench/api.py`` (``--help`` for the load options). It prints
figures; it is not a timed test. Everything runs on loopback, in separate processes:

- **Accept path**: ``POST /v1/dossiers`` through the real gateway (``tthc-gateway
  serve`` on the embedded default: SQLite store under a temporary ``var/``, real ES256
  signing, outbox, evidence log, idempotency records, API-key auth, strict request
  validation; no worker) against two BASELINES: a connexion ``AsyncApp`` serving the same
  path with the same operation and schemas (the gateway's served contract, reduced to
  that path, without the security requirement), strict validation, a no-op handler,
  on the same uvicorn settings (``gateway.process.uvicorn_server``); A with connexion's
  stock validators, B with the gateway's (``gateway.api.validation.validator_map``), so
  that B does the gateway's own validation work and the ratio to B is the cost of
  everything else. The target (issue 6) is judged against A; B is reported alongside.
  The three servers run at once and take turns: ``--rounds`` rounds, in each one
  ``--seconds`` of load on A, then B, then the gateway, so a drift of this shared
  machine's speed hits all three alike; the ratio is the median of the rounds' ratios.
  The load is this process: ``--threads`` keep-alive connections (one ``http.client``
  connection per thread), after a warm-up that is not counted. Each request has its own
  dossier code and ``Idempotency-Key``. Only ``202`` answers count as accepted.
- **Citizen lookup**: ``POST /v1/citizens/lookup`` through the gateway against the same
  adapter call without the gateway (``CitizenService`` on a ``PopulationClient`` built
  from the same configuration, no evidence recorder), both against the population mock
  (``tthc-gateway mocks``), one call at a time, the two interleaved call by call.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script from anywhere

CITY_KEY = "demo-city-key"
HOST = "127.0.0.1"
DOSSIERS = "/v1/dossiers"
LOOKUP = "/v1/citizens/lookup"


# -- figures --------------------------------------------------------------------------


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (seconds)."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Figures:
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""
    server_cpu: float = float("nan")  # seconds of the server process's CPU while measured

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_request_ms(self) -> float:
        return self.server_cpu / self.ok * 1000 if self.ok else float("nan")

    def p(self, fraction: float) -> float:
        return percentile(sorted(self.latencies), fraction) * 1000


def combined(rounds: list[Figures]) -> Figures:
    """The rounds of one server as one measurement."""
    total = Figures()
    for figures in rounds:
        total.ok += figures.ok
        total.errors += figures.errors
        total.seconds += figures.seconds
        total.latencies.extend(figures.latencies)
        total.first_error = total.first_error or figures.first_error
    total.server_cpu = sum(figures.server_cpu for figures in rounds)
    return total


# -- load -----------------------------------------------------------------------------

Request = Callable[[int], tuple[bytes, dict[str, str]]]


def run_load(
    port: int, path: str, request: Request, *, expect: int, threads: int, count: int, seconds: float
) -> Figures:
    """``threads`` connections POSTing until ``count`` requests are sent or time is up."""
    figures = Figures()
    lock = threading.Lock()
    numbers = itertools.count()
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def client() -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        mine: list[float] = []
        ok = errors = 0
        error = ""
        start.wait()
        while True:
            number = next(numbers)
            if number >= count or time.monotonic() > deadline[0]:
                break
            body, headers = request(number)
            began = time.perf_counter()
            connection.request("POST", path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            mine.append(time.perf_counter() - began)
            if answer.status == expect:
                ok += 1
            else:
                errors += 1
                error = error or f"HTTP {answer.status}: {data[:300]!r}"
        connection.close()
        with lock:
            figures.latencies.extend(mine)
            figures.ok += ok
            figures.errors += errors
            figures.first_error = figures.first_error or error

    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    deadline[0] = time.monotonic() + seconds
    began = time.perf_counter()
    start.wait()
    for worker in workers:
        worker.join()
    figures.seconds = time.perf_counter() - began
    return figures


def dossier_requests(agency_code: str) -> Request:
    """A sync request per number: the contract's example with its own dossier code."""
    from gateway.demo import _spec_examples

    record = copy.deepcopy(_spec_examples()["dossier"])
    record["MaHoSo"] = "@CODE@"
    template = json.dumps(record, ensure_ascii=False).encode("utf-8")
    run = uuid.uuid4().hex[:6]
    serial = itertools.count()
    today = datetime.now(UTC).date()

    def request(number: int) -> tuple[bytes, dict[str, str]]:
        n = next(serial)  # the contract allows 5 digits a day: a new day every 100000
        day = today - timedelta(days=n // 100_000)
        code = f"{agency_code}-{day:%y%m%d}-{n % 100_000:05d}"
        return template.replace(b"@CODE@", code.encode("ascii")), {
            "Content-Type": "application/json",
            "X-API-Key": CITY_KEY,
            "Idempotency-Key": f"bench-{run}-{n}",
        }

    return request


# -- processes ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def stack_environment(var_dir: Path, api_port: int, mocks_port: int) -> dict[str, str]:
    mocks = f"http://{HOST}:{mocks_port}"
    return {
        **os.environ,
        "TTHC_ENV": "demo",
        "TTHC_CONFIG_DIR": str(REPO / "config"),
        "TTHC_VAR_DIR": str(var_dir),
        "TTHC_KEYS__DIRECTORY": str(var_dir / "keys"),
        "TTHC_HTTP__PORT": str(api_port),
        "TTHC_HTTP__PUBLIC_URL": f"http://{HOST}:{api_port}",
        "TTHC_MOCKS__PORT": str(mocks_port),
        "TTHC_ADAPTERS__PORTAL__URL": f"{mocks}/portal",
        "TTHC_ADAPTERS__PAYMENT__URL": f"{mocks}/payment",
        "TTHC_ADAPTERS__POPULATION__URL": f"{mocks}/population/ws",
        "TTHC_ADAPTERS__POPULATION__TOKEN_URL": f"{mocks}/population/token",
        "TTHC_ADAPTERS__WAREHOUSE__URL": f"{mocks}/warehouse",
        "TTHC_ADAPTERS__CITY__URL": f"{mocks}/city",
        "TTHC_LOGGING__FORMAT": "json",
    }


def answers_200(port: int, path: str) -> Callable[[], bool]:
    def check() -> bool:
        connection = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            connection.request("GET", path)
            return connection.getresponse().status == 200
        finally:
            connection.close()

    return check


def listens(port: int) -> Callable[[], bool]:
    import socket

    def check() -> bool:
        with socket.create_connection((HOST, port), timeout=2):
            return True

    return check


@contextmanager
def process(
    args: list[str], env: Mapping[str, str], log: Path, ready: Callable[[], bool]
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``args``, yield once ``ready()``; terminate it (then kill) afterwards."""
    with log.open("wb") as out:
        child = subprocess.Popen(args, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if child.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{' '.join(args)} exited; the end of its output:\n{tail}")
            try:
                if ready():
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(args)} not ready after 60 s; see {log}")
            time.sleep(0.2)
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def _accept_noop(
    body: dict[str, Any], **_: Any
) -> tuple[dict[str, str], int, dict[str, str]]:
    answer = {"messageId": str(uuid.uuid4()), "status": "accepted"}
    return answer, 202, {"Content-Type": "application/json"}


def serve_baseline(port: int, validators: str) -> None:
    """The baseline app: the gateway's contract reduced to POST /v1/dossiers, no-op handler.

    ``validators``: ``stock`` (connexion's own jsonschema validators) or ``gateway`` (the
    gateway's ``validator_map``: the compiled body check, jsonschema for the error report),
    so the second baseline does the very validation work the gateway does.
    """
    import connexion
    from connexion.resolver import Resolver

    from gateway.api.spec import load_served_spec
    from gateway.api.validation import validator_map
    from gateway.process import uvicorn_server

    spec = load_served_spec()
    operation = spec["paths"][DOSSIERS]["post"]
    operation.pop("security", None)
    spec.pop("security", None)
    spec["paths"] = {DOSSIERS: {"post": operation}}
    app = connexion.AsyncApp(__name__)
    app.add_api(
        spec,
        strict_validation=True,
        pythonic_params=True,
        resolver=Resolver(lambda _operation_id: _accept_noop),
        swagger_ui_options=connexion.options.SwaggerUIOptions(swagger_ui=False),
        **({"validator_map": validator_map()} if validators == "gateway" else {}),
    )

    uvicorn_server(app, HOST, port).run()


# -- citizen lookup -------------------------------------------------------------------


def seeded_citizen(mocks_port: int) -> dict[str, str]:
    """A lookup body for a citizen the population mock holds (as ``tthc-gateway demo``)."""
    connection = http.client.HTTPConnection(HOST, mocks_port, timeout=10)
    connection.request("GET", "/population/_mock/state")
    state = json.loads(connection.getresponse().read())
    connection.close()
    citizen = next(c for c in state["citizens"] if c["SoDinhDanh"].startswith("001"))
    birth = citizen["NgayThangNamSinh"]
    return {
        "SoDinhDanh": citizen["SoDinhDanh"],
        "HoVaTen": citizen["HoVaTen"],
        "NgayThangNamSinh": birth.get("NgayThangNam") or birth["Nam"],
        "MaCanBo": "bench-officer",
    }


def direct_lookup(
    env: Mapping[str, str],
) -> tuple[Callable[[dict[str, str]], Any], Callable[[], None]]:
    """The gateway's own lookup code without the gateway: adapter built from the same settings."""
    from adapters.population.client import PopulationClient
    from gateway.bootstrap import build
    from gateway.config import load_settings
    from gateway.flows.citizens import CitizenService
    from gateway.flows.ports import CallContext
    from gateway.testing.recorders import NullRecorder

    settings = load_settings(environ=env)
    gateway = build(settings, migrate=False)
    population = settings.adapters.population
    service = CitizenService(
        PopulationClient(gateway.population.config, NullRecorder()),
        service_code=population.service_code,
        officer_code=population.officer_code,
        agency_code=settings.agency.code,
    )

    def call(query: dict[str, str]) -> Any:
        return service.lookup(query, CallContext(uuid.uuid4().hex, "bench", None, None))

    return call, gateway.close


def compare_lookups(
    api_port: int, direct: Callable[[dict[str, str]], Any], query: dict[str, str], calls: int
) -> tuple[Figures, Figures]:
    """``calls`` lookups each way, interleaved one by one after 50 unmeasured of each."""
    connection = http.client.HTTPConnection(HOST, api_port, timeout=30)
    body = json.dumps(query).encode("utf-8")
    headers = {"Content-Type": "application/json", "X-API-Key": CITY_KEY}
    through, alone = Figures(), Figures()
    for number in range(50 + calls):
        began = time.perf_counter()
        connection.request("POST", LOOKUP, body=body, headers=headers)
        answer = connection.getresponse()
        data = json.loads(answer.read())
        gateway_seconds = time.perf_counter() - began
        began = time.perf_counter()
        expected = direct(query)
        direct_seconds = time.perf_counter() - began
        if answer.status != 200 or data != expected or not data.get("found"):
            raise RuntimeError(
                f"lookup through the gateway: HTTP {answer.status}, not the direct answer"
            )
        if number >= 50:
            through.latencies.append(gateway_seconds)
            alone.latencies.append(direct_seconds)
    connection.close()
    through.ok, alone.ok = calls, calls
    return through, alone


# -- main -----------------------------------------------------------------------------


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return (
        f"nproc={os.cpu_count()}, CPU {cpu!r}, {memory_kb / 1024 / 1024:.1f} GiB RAM, "
        f"Python {sys.version.split()[0]}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--threads", type=int, default=8, help="concurrent connections (8)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (4)")
    parser.add_argument("--seconds", type=float, default=6.0, help="per server per round (6)")
    parser.add_argument("--warmup", type=int, default=400, help="uncounted requests first (400)")
    parser.add_argument("--lookups", type=int, default=400, help="lookups each way (400)")
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--validators", default="stock", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve_baseline:
        serve_baseline(options.serve_baseline, options.validators)
        return 0

    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}")
    print(
        f"load: {options.threads} connections; {options.rounds} rounds of {options.seconds:g} s "
        f"per server, the servers taking turns, after {options.warmup} warm-up requests each"
    )
    names = {
        "stock": "baseline A: stock connexion",
        "gateway-validators": "baseline B: A + gateway validators",
        "gateway": "gateway accept path",
    }
    with tempfile.TemporaryDirectory(prefix="tthc-bench-") as temp:
        var_dir = Path(temp)
        api_port, mocks_port = free_port(), free_port()
        env = stack_environment(var_dir, api_port, mocks_port)
        python = sys.executable
        gateway_cli = [python, "-m", "gateway"]
        requests = dossier_requests("000.00.00.H26")

        def baseline(validators: str, port: int) -> Any:
            args = [python, __file__, "--serve-baseline", str(port), "--validators", validators]
            return process(args, env, var_dir / f"baseline-{validators}.log", listens(port))

        ports = {"stock": free_port(), "gateway-validators": free_port(), "gateway": api_port}
        with (
            baseline("stock", ports["stock"]) as stock_server,
            baseline("gateway", ports["gateway-validators"]) as validators_server,
            process(
                [*gateway_cli, "mocks", "--port", str(mocks_port)],
                env,
                var_dir / "mocks.log",
                answers_200(mocks_port, "/population/_mock/state"),
            ),
            process(
                [*gateway_cli, "serve"],
                env,
                var_dir / "serve.log",
                answers_200(api_port, "/healthz"),
            ) as gateway_server,
        ):
            servers = {
                "stock": stock_server,
                "gateway-validators": validators_server,
                "gateway": gateway_server,
            }
            load = {"expect": 202, "threads": options.threads}
            for name in servers:
                run_load(ports[name], DOSSIERS, requests, count=options.warmup, seconds=60, **load)
            rounds: dict[str, list[Figures]] = {name: [] for name in servers}
            for _ in range(options.rounds):
                for name, server in servers.items():
                    before = cpu_seconds(server.pid)
                    figures = run_load(
                        ports[name],
                        DOSSIERS,
                        requests,
                        count=10**9,
                        seconds=options.seconds,
                        **load,
                    )
                    figures.server_cpu = cpu_seconds(server.pid) - before
                    rounds[name].append(figures)
            direct, close = direct_lookup(env)
            try:
                through, alone = compare_lookups(
                    api_port, direct, seeded_citizen(mocks_port), options.lookups
                )
            finally:
                close()

    totals = {name: combined(figures) for name, figures in rounds.items()}
    print("\nPOST /v1/dossiers (accepted = 202), all rounds together")
    print(
        f"{'':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'count':>7} {'errors':>6} "
        f"{'server CPU ms/req':>18}"
    )
    for name, figures in totals.items():
        print(
            f"{names[name]:34} {figures.rate:8.0f} {figures.p(0.5):8.2f} {figures.p(0.99):8.2f} "
            f"{figures.ok:7d} {figures.errors:6d} {figures.cpu_per_request_ms:18.2f}"
        )
        if figures.first_error:
            print(f"  first error: {figures.first_error}")
    per_round = {
        other: [
            g.rate / b.rate if b.rate else 0.0
            for g, b in zip(rounds["gateway"], rounds[other], strict=True)
        ]
        for other in ("stock", "gateway-validators")
    }
    print(
        "gateway/A per round: "
        + ", ".join(f"{r:.2f}" for r in per_round["stock"])
        + "; gateway/B per round: "
        + ", ".join(f"{r:.2f}" for r in per_round["gateway-validators"])
    )
    ratio = statistics.median(per_round["stock"])  # the baseline
    print(
        f"median ratio gateway/A: {ratio:.2f} (target >= 0.50: {'met' if ratio >= 0.5 else 'NOT met'}); "
        f"gateway/B: {statistics.median(per_round['gateway-validators']):.2f} "
        "(no target: the cost of the gateway's own work)"
    )

    print(f"\nPOST /v1/citizens/lookup, one call at a time, {options.lookups} each way")
    print(f"{'':34} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'adapter alone (no gateway)':34} {alone.p(0.5):8.2f} {alone.p(0.99):8.2f}")
    print(f"{'through the gateway':34} {through.p(0.5):8.2f} {through.p(0.99):8.2f}")
    added50, added99 = through.p(0.5) - alone.p(0.5), through.p(0.99) - alone.p(0.99)
    print(
        f"{'added by the gateway':34} {added50:8.2f} {added99:8.2f} "
        f"(target p50 < 5 ms: {'met' if added50 < 5 else 'NOT met'})"
    )
    errors = any(figures.errors for figures in totals.values())
    return 0 if ratio >= 0.5 and added50 < 5 and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
