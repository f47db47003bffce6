"""Counting at the mocks: what each partner received, once or more than once.

What each count means (docs/reliability.md has the same table):
- **delivered**, per message, from ``GET /_mock/state``: a sync when the portal holds its
  ``MaHoSo``; a progress step when the portal's progress list of the dossier holds an
  entry with the step's unique ``NoiDungXuLy``; a portal push or a payment confirm when
  the city holds an event for that ``MaHoSo`` / ``MaThamChieu``.
- **delivered more than once as new**: the partner took a repeat as a new fact.
  The portal upserts dossiers by ``MaHoSo``, so a repeated sync is an update, not new,
  unless it comes as a create (``isUpdating`` "False", seen in the portal's request log)
  for a dossier the portal already held. The portal appends progress steps, so each
  extra entry of the same step is new. The city deduplicates by message id, so a repeat
  under the same id is a duplicate call, not new; the same payment or pushed dossier
  accepted (``202``) under two message ids is new twice.
- **duplicate calls**: partner calls beyond the first that reached the partner's logic:
  reached ``DongBoHoSoMC`` / ``CapNhatTienDoHoSoMC`` calls for the same dossier / step in
  the portal's request log (answers produced by an injected error or timeout never reached
  it), and the city's count of deliveries per message id beyond the first.
- **parked**, from the gateway: ``GET /v1/admin/messages?status=parked`` (ops key) and the
  depth of the ``<prefix>.parked`` queue.

The portal's request log keeps only its last 1,000 requests, so :class:`RequestLog` polls
it during the whole case and merges by sequence number; a gap (requests rotated out
between two polls) is reported as ``missed``, never silently ignored.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import requests

from bench.chaos.load import Job

OPS_KEY = "demo-ops-key"
KIND_OF_TYPE = {
    "portal.dossier.sync": "sync",
    "portal.dossier.progress": "progress",
    "city.dossier.submitted": "push",
    "city.payment.confirmed": "payment",
}


def _get(url: str, **kwargs: Any) -> Any:
    response = requests.get(url, timeout=kwargs.pop("timeout", 30), **kwargs)
    response.raise_for_status()
    return response.json()


def _reached(fault: dict[str, Any] | None) -> bool:
    """Whether a recorded call reached the partner's logic (mocks/framework ``_apply_fault``)."""
    if not fault:
        return True
    if fault.get("timeout") or fault.get("status") is not None:
        return False
    if fault.get("soap_fault") or fault.get("expired_session"):
        return False
    return bool(
        fault.get("latency_ms")
        or fault.get("malformed")
        or fault.get("oversized_bytes") is not None
    )


@dataclass(frozen=True)
class PortalCall:
    seq: int
    service: str
    codes: tuple[str, ...]
    updating: str
    tags: tuple[str, ...]
    reached: bool


def _portal_call(entry: dict[str, Any]) -> PortalCall | None:
    if entry.get("method") != "POST" or not str(entry.get("path", "")).endswith("/integration"):
        return None
    try:
        body = json.loads(entry.get("body") or "{}")
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("service") not in (
        "DongBoHoSoMC",
        "CapNhatTienDoHoSoMC",
    ):
        return None
    items = [item for item in body.get("data") or [] if isinstance(item, dict)]
    return PortalCall(
        seq=int(entry["seq"]),
        service=str(body["service"]),
        codes=tuple(str(item.get("MaHoSo", "")) for item in items),
        updating=str(body.get("isUpdating", "")),
        tags=tuple(str(item.get("NoiDungXuLy", "")) for item in items),
        reached=_reached(entry.get("fault")),
    )


class RequestLog:
    """Polls the portal mock's ``/_mock/requests`` and keeps the integration calls."""

    def __init__(self, mocks_url: str, interval: float = 2.0) -> None:
        self.url = f"{mocks_url}/portal/_mock/requests"
        self.interval = interval
        self.calls: dict[int, PortalCall] = {}
        self.last_seq = 0
        self.missed = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-request-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.poll()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        try:
            entries = _get(self.url)["requests"]
        except (requests.RequestException, ValueError, KeyError):
            self.errors += 1
            return
        fresh = [e for e in entries if int(e["seq"]) > self.last_seq]
        if fresh:
            first = min(int(e["seq"]) for e in fresh)
            if first > self.last_seq + 1:
                self.missed += first - self.last_seq - 1
            self.last_seq = max(int(e["seq"]) for e in fresh)
        for entry in fresh:
            call = _portal_call(entry)
            if call is not None:
                self.calls[call.seq] = call


@dataclass
class Snapshot:
    """What the mocks hold, indexed for counting."""

    dossiers: set[str]
    progress: dict[str, Counter[str]]
    city: dict[tuple[str, str], dict[str, int]]  # (kind, key) -> {message id: deliveries}

    @classmethod
    def take(cls, mocks_url: str) -> Snapshot:
        portal = _get(f"{mocks_url}/portal/_mock/state")
        city = _get(f"{mocks_url}/city/_mock/state")
        progress: dict[str, Counter[str]] = {}
        for code, items in (portal.get("progress") or {}).items():
            progress[code] = Counter(str(item.get("NoiDungXuLy", "")) for item in items)
        events: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        for event in city.get("events") or []:
            body = event.get("event") or {}
            if event.get("type") == "city.dossier.submitted":
                key = ("push", str((body.get("dossier") or {}).get("MaHoSo", "")))
            elif event.get("type") == "city.payment.confirmed":
                key = ("payment", str((body.get("payment") or {}).get("MaThamChieu", "")))
            else:
                continue
            events[key][event["messageId"]] = int(event.get("deliveries", 1))
        return cls(set(portal.get("dossiers") or {}), progress, dict(events))

    def delivered(self, job: Job) -> bool:
        if job.kind == "sync":
            return job.dossier_code in self.dossiers
        if job.kind == "progress":
            return self.progress.get(job.dossier_code, Counter())[job.reference] > 0
        return bool(self.city.get(job.key))


@dataclass
class Admin:
    """The gateway's admin API (ops key): parked messages and what is still in flight."""

    gateway_urls: list[str]

    def _page(self, **params: Any) -> dict[str, Any]:
        last: Exception | None = None
        for url in self.gateway_urls:  # either serve process will do
            try:
                return dict(
                    _get(f"{url}/v1/admin/messages", params=params, headers={"X-API-Key": OPS_KEY})
                )
            except (requests.RequestException, ValueError) as error:
                last = error
        raise RuntimeError(f"admin API unavailable: {last}")

    def about(self, kind: str, dossier_code: str) -> list[dict[str, Any]]:
        """The gateway's records of one message (diagnosis only; counts come from the mocks)."""
        message_type = next(t for t, k in KIND_OF_TYPE.items() if k == kind)
        try:
            return list(self._page(type=message_type, dossierCode=dossier_code, limit=5)["items"])
        except (RuntimeError, KeyError):
            return []

    def total(self, status: str) -> int:
        return int(self._page(status=status, limit=1)["total"])

    def in_flight(self) -> int:
        return sum(self.total(status) for status in ("accepted", "published", "retrying"))

    def parked(self, cap: int = 20_000) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while len(items) < cap:
            page = self._page(status="parked", limit=500, offset=len(items))
            items += page["items"]
            if not page["items"] or len(items) >= int(page["total"]):
                break
        return items


@dataclass
class Counts:
    """The figures of one case (see the module docstring for their meaning)."""

    messages: int = 0
    accepted: int = 0
    delivered: int = 0
    lost: int = 0
    parked_undelivered: int = 0
    duplicates_as_new: int = 0
    duplicate_calls: int = 0
    parked_api: int = 0
    parked_queue: int = 0
    not_accepted: int = 0
    delivered_unacknowledged: int = 0
    request_log_missed: int = 0
    portal_calls_seen: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    parked_reasons: dict[str, int] = field(default_factory=dict)
    lost_examples: list[str] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)


def parked_keys(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {
        (KIND_OF_TYPE.get(str(item.get("type")), "?"), str(item.get("dossierCode") or ""))
        for item in items
    }


def _portal_calls(log: RequestLog) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Reached sync calls per dossier, creates of an already-held dossier, progress calls."""
    syncs: Counter[str] = Counter()
    recreated: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    for call in sorted(log.calls.values(), key=lambda c: c.seq):
        if not call.reached:
            continue
        if call.service == "DongBoHoSoMC":
            for code in call.codes:
                if syncs[code] and call.updating == "False":
                    recreated[code] += 1
                syncs[code] += 1
        else:
            for tag in call.tags:
                steps[tag] += 1
    return syncs, recreated, steps


def count(
    jobs: list[Job],
    snapshot: Snapshot,
    log: RequestLog,
    parked: list[dict[str, Any]],
    parked_queue: int,
) -> Counts:
    counts = Counts(messages=len(jobs), parked_api=len(parked), parked_queue=parked_queue)
    counts.request_log_missed = log.missed
    syncs, recreated, steps = _portal_calls(log)
    counts.portal_calls_seen = {
        "DongBoHoSoMC": sum(syncs.values()),
        "CapNhatTienDoHoSoMC": sum(steps.values()),
        "not reached (injected faults)": sum(1 for c in log.calls.values() if not c.reached),
    }
    parked_at = parked_keys(parked)
    reasons: Counter[str] = Counter(str(i.get("lastError") or "")[:60] for i in parked)
    counts.parked_reasons = dict(reasons.most_common(8))
    refusals: Counter[str] = Counter()
    for job in jobs:
        kind = counts.by_kind.setdefault(
            job.kind,
            {
                "messages": 0,
                "accepted": 0,
                "delivered": 0,
                "lost": 0,
                "parked": 0,
                "as_new": 0,
                "dup_calls": 0,
            },
        )
        kind["messages"] += 1
        delivered = snapshot.delivered(job)
        as_new, dup_calls = 0, 0
        if job.kind == "sync":
            as_new = recreated[job.dossier_code]
            dup_calls = max(0, syncs[job.dossier_code] - 1)
        elif job.kind == "progress":
            entries = snapshot.progress.get(job.dossier_code, Counter())[job.reference]
            as_new = max(0, entries - 1)
            dup_calls = max(as_new, steps[job.reference] - 1)
        else:
            ids = snapshot.city.get(job.key, {})
            as_new = max(0, len(ids) - 1)
            dup_calls = sum(max(0, n - 1) for n in ids.values())
        counts.duplicates_as_new += as_new
        counts.duplicate_calls += dup_calls
        kind["as_new"] += as_new
        kind["dup_calls"] += dup_calls
        if not job.accepted:
            counts.not_accepted += 1
            refusals[job.answer[:60]] += 1
            if delivered:
                counts.delivered_unacknowledged += 1
            continue
        counts.accepted += 1
        kind["accepted"] += 1
        if delivered:
            counts.delivered += 1
            kind["delivered"] += 1
        elif (job.kind, job.dossier_code) in parked_at:
            counts.parked_undelivered += 1
            kind["parked"] += 1
        else:
            counts.lost += 1
            kind["lost"] += 1
            if len(counts.lost_examples) < 5:
                counts.lost_examples.append(f"{job.kind} {job.dossier_code} {job.message_id}")
    counts.refusals = dict(refusals.most_common(5))
    return counts


def settled(jobs: list[Job], snapshot: Snapshot, parked: list[dict[str, Any]]) -> int:
    """How many accepted messages are neither delivered nor parked yet."""
    parked_at = parked_keys(parked)
    return sum(
        1
        for job in jobs
        if job.accepted
        and not snapshot.delivered(job)
        and (job.kind, job.dossier_code) not in parked_at
    )
