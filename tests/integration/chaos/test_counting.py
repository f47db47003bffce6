"""The chaos suite's counting rules on made-up mock data (no servers): a harness that
could not see a duplicate or a loss would pass every case, so check that it does."""

from __future__ import annotations

from collections import Counter

from bench.chaos.load import Job
from bench.chaos.observe import PortalCall, RequestLog, Snapshot, count, settled


def _job(kind: str, code: str, reference: str = "", accepted: bool = True) -> Job:
    return Job(kind, 0, code, reference=reference, accepted=accepted, answer="202")


def _log(calls: list[PortalCall]) -> RequestLog:
    log = RequestLog("http://127.0.0.1:1")
    log.calls = {call.seq: call for call in calls}
    return log


def test_each_kind_of_repeat_is_counted_where_the_partner_shows_it() -> None:
    jobs = [
        _job("sync", "A"),  # created, then created again (as new), then updated
        _job("progress", "A", "step A"),  # appended twice: as new
        _job("push", "P"),  # one id delivered twice: a duplicate call, not new
        _job("payment", "Q", "REF1"),  # two message ids: as new
        _job("sync", "LOST"),  # accepted, never at the portal, not parked
        _job("sync", "PARKED"),  # accepted, parked
        _job("push", "REFUSED", accepted=False),
    ]
    calls = [
        PortalCall(1, "DongBoHoSoMC", ("A",), "False", ("",), True),
        PortalCall(2, "DongBoHoSoMC", ("A",), "False", ("",), True),
        PortalCall(3, "DongBoHoSoMC", ("A",), "True", ("",), True),
        PortalCall(4, "DongBoHoSoMC", ("A",), "True", ("",), False),  # injected 500: not reached
        PortalCall(5, "CapNhatTienDoHoSoMC", ("A",), "", ("step A",), True),
        PortalCall(6, "CapNhatTienDoHoSoMC", ("A",), "", ("step A",), True),
    ]
    snapshot = Snapshot(
        dossiers={"A"},
        progress={"A": Counter({"step A": 2})},
        city={("push", "P"): {"id-1": 2}, ("payment", "REF1"): {"id-2": 1, "id-3": 1}},
    )
    parked = [{"type": "portal.dossier.sync", "dossierCode": "PARKED", "lastError": "x"}]

    counts = count(jobs, snapshot, _log(calls), parked, parked_queue=1)

    assert (counts.messages, counts.accepted, counts.not_accepted) == (7, 6, 1)
    assert (counts.delivered, counts.lost, counts.parked_undelivered) == (4, 1, 1)
    assert counts.by_kind["sync"]["as_new"] == 1 and counts.by_kind["sync"]["dup_calls"] == 2
    assert (
        counts.by_kind["progress"]["as_new"] == 1 and counts.by_kind["progress"]["dup_calls"] == 1
    )
    assert counts.by_kind["push"]["as_new"] == 0 and counts.by_kind["push"]["dup_calls"] == 1
    assert counts.by_kind["payment"]["as_new"] == 1 and counts.by_kind["payment"]["dup_calls"] == 0
    assert counts.duplicates_as_new == 3 and counts.duplicate_calls == 4
    assert (counts.parked_api, counts.parked_queue) == (1, 1)
    assert settled(jobs, snapshot, parked) == 1  # only LOST is still outstanding
