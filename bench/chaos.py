#!/usr/bin/env python3
"""The chaos suite: real gateway processes under faults, counted at the mocks.

Run: ``.venv/bin/python bench/chaos.py --cases 1,3,4,6 --messages 1000 [--fault-seconds 60]
[--json out.json]`` (``make chaos`` runs every case but 8 with the defaults).

Cases (docs/reliability.md says what each does and counts):
  0  no fault (a baseline that checks the harness)
  1  a worker SIGKILLed every few seconds, restarted at once
  2  a serve process SIGKILLed while accepting; clients retry with the same Idempotency-Key
  3  a crash between commit and publish (the workers, each running an outbox relay)
  4  RabbitMQ restarted mid-stream (rabbitmqctl stop_app / start_app: the SHARED broker)
  5  PostgreSQL restarted mid-stream (pg_ctlcluster restart: the SHARED server)
  6  partners answering 500 (6a), then timing out (6b), for --fault-seconds each
  7  partners slower than the lease (--slow-factor x --lease-seconds per call)
  8  a three-node RabbitMQ cluster on this machine, the gateway's node killed mid-stream

Needs RabbitMQ on 127.0.0.1:5672, PostgreSQL on 127.0.0.1:5432 (database ``test``) and
``.venv/bin/tthc-gateway``; cases 4, 5 and 8 need root (rabbitmqctl, pg_ctlcluster,
rabbitmq-server). Exit code 0 when every case run passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chaos.runner import CASES, Options, expand, run_case, table  # noqa: E402


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cases",
        default="1,2,3,4,5,6,7",
        help=f"comma-separated, of {', '.join(CASES)} (6 = 6a,6b)",
    )
    parser.add_argument("--messages", type=int, default=1000, help="messages per case")
    parser.add_argument(
        "--fault-seconds", type=float, default=60.0, help="how long each fault lasts"
    )
    parser.add_argument(
        "--kill-every", type=float, default=5.0, help="cases 1-3: seconds between kills"
    )
    parser.add_argument(
        "--outage-seconds",
        type=float,
        default=10.0,
        help="cases 4, 8: how long the broker is down (4) / when the node dies (8)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="give up waiting for the drain after this",
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=15.0,
        help="wait at most this for late copies before counting",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument(
        "--retry-budget",
        type=float,
        default=90.0,
        help="seconds a client keeps retrying one request",
    )
    parser.add_argument(
        "--lease-seconds",
        type=float,
        default=None,
        help="case 7: the lease; when given it is ALSO passed to the workers as TTHC_WORKER__LEASE_SECONDS (not a setting yet)",
    )
    parser.add_argument(
        "--slow-factor", type=float, default=2.0, help="case 7: each call takes this many leases"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="keep process logs here (default: a temporary directory)",
    )
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument(
        "--partner-latency-ms",
        type=int,
        default=50,
        help="a healthy portal/city answers after this (0: at once)",
    )
    parser.add_argument(
        "--tree",
        type=Path,
        default=ROOT,
        help="run the gateway from this source tree (e.g. a `git archive` of an older commit)",
    )
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    for url in (args.postgres_url, args.amqp_url):
        if "127.0.0.1" not in url and "localhost" not in url:
            raise SystemExit(f"chaos: only local servers may be disrupted, got {url}")
    options = Options(
        postgres_url=args.postgres_url,
        amqp_url=args.amqp_url,
        messages=args.messages,
        fault_seconds=args.fault_seconds,
        kill_every=args.kill_every,
        outage_seconds=args.outage_seconds,
        drain_timeout=args.drain_timeout,
        settle_seconds=args.settle_seconds,
        concurrency=args.concurrency,
        retry_budget=args.retry_budget,
        lease_seconds=args.lease_seconds,
        slow_factor=args.slow_factor,
        work_dir=args.work_dir,
        tree=args.tree.resolve(),
        partner_latency_ms=args.partner_latency_ms,
    )
    started = datetime.now().astimezone()
    results = []
    for case_id in expand(args.cases):
        result = run_case(case_id, options)
        results.append(result)
        print(f"case {case_id}: {result.verdict} {'; '.join(result.reasons)}", flush=True)
    print()
    print(table(results))
    if args.json:
        document = {
            "started": started.isoformat(timespec="seconds"),
            "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()},
            "results": [r.as_dict() for r in results],
        }
        args.json.write_text(
            json.dumps(document, indent=2, ensure_ascii=False, default=str), "utf-8"
        )
    return 0 if all(r.verdict == "PASS" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
