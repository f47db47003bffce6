"""The chaos matrix in small: real processes under faults, counted at the mocks.

Cases 1 (a worker SIGKILLed every 5 s), 3 (a crash between commit and publish), 4 (the
shared RabbitMQ restarted: ``rabbitmqctl stop_app``/``start_app``, restored before the test
returns) and 6 (partners answering 500, then timing out) with 200 messages and 15 s fault
windows, through ``bench/chaos`` (the same harness as ``make chaos``; docs/reliability.md).
Each asserts what the gateway promises: nothing accepted is lost, nothing is delivered
again as new, nothing is parked. These fail, not skip, in CI when a server is missing
(``postgres_url`` / ``amqp_url`` from tests/conftest.py). About a minute per case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos.runner import Options, run_case, table

pytestmark = pytest.mark.integration


@pytest.mark.timeout(280)
@pytest.mark.parametrize("case_id", ["1s", "1", "3", "4", "6a", "6b"])
def test_nothing_lost_duplicated_as_new_or_parked(
    case_id: str, postgres_url: str, amqp_url: str, tmp_path: Path
) -> None:
    options = Options(
        postgres_url=postgres_url,
        amqp_url=amqp_url,
        messages=200,
        fault_seconds=15,
        outage_seconds=6,
        drain_timeout=60,
        settle_seconds=10,
        retry_budget=60,
        work_dir=tmp_path,
    )
    result = run_case(case_id, options)
    summary = (
        f"{table([result])}\nper kind: {result.counts.by_kind}"
        f"\nparked reasons: {result.counts.parked_reasons}\nlogs: {tmp_path}"
    )
    assert result.verdict != "ERROR", summary
    counts = result.counts
    assert counts.accepted > 0, summary
    assert counts.lost == 0, summary
    assert (counts.parked_api, counts.parked_queue) == (0, 0), summary
    progress_as_new = counts.by_kind.get("progress", {}).get("as_new", 0)
    assert counts.duplicates_as_new - progress_as_new == 0, summary
    # A progress step (CapNhatTienDoHoSoMC appends; the portal has no key to deduplicate
    # it and no read-back of steps) repeated because a worker was SIGKILLed after the
    # portal took it and before the ledger completion: at most one per kill, and only in
    # the cases that kill workers (docs/reliability.md: not met, and why).
    kills = {"1s": 1, "1": 4, "3": 4}.get(case_id, 0)
    assert progress_as_new <= kills, summary
    if progress_as_new == 0:
        assert result.verdict == "PASS", summary  # and drained within 60 s of the fault's end
    else:
        assert result.drain_seconds is not None and result.drain_seconds <= 60, summary
