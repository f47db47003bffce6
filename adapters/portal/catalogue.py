"""The procedure catalogue: reading LayDanhSachTTHC / LayThuTuc answers, and a TTL cache.

Rules:
- An answer is checked against the OpenAPI components ``ProcedureSummary`` / ``Procedure``
  of ``contracts/portal/openapi.yaml`` before it is read; a mismatch is
  :class:`UpstreamMalformed` naming the path (``result[3].MUCDO``).
- :class:`TtlCache` keeps each key's value for ``ttl`` seconds; it is thread-safe and
  fetches a missing key once even when many threads ask at the same time (the others wait
  for that fetch). A failed fetch caches nothing. ``ttl`` 0 disables caching.
Pure functions apart from the cache's clock (injectable).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

from adapters.portal import contract
from adapters.portal.records import (
    CodeName,
    FeeKind,
    LegalBasis,
    Procedure,
    ProcedureComponent,
    ProcedureFee,
    ProcedureMethod,
    ProcedureStep,
    ProcedureSummary,
    ServiceLevel,
)
from gateway.domain.errors import UpstreamMalformed

PARTNER = "portal"
T = TypeVar("T")


def _check(data: object, schema: str, where: str, service: str) -> None:
    checker = contract.validator(contract.OPENAPI, f"/components/schemas/{schema}")
    path, why = contract.first_error(checker, data, where)
    if path:
        raise UpstreamMalformed(PARTNER, f"{service}: answer {path}: {why}")


def summaries_from_portal(result: object) -> tuple[ProcedureSummary, ...]:
    """The LayDanhSachTTHC ``result`` list as records."""
    if result is None:
        return ()
    if not isinstance(result, list):
        raise UpstreamMalformed(PARTNER, "LayDanhSachTTHC: answer result is not a list")
    out = []
    for index, item in enumerate(result):
        _check(item, "ProcedureSummary", f"result[{index}]", "LayDanhSachTTHC")
        out.append(
            ProcedureSummary(
                code=item["MATTHC"],
                name=item["TENTTHC"],
                field_code=item["MALINHVUC"],
                field_name=item["TENLINHVUC"],
                level=ServiceLevel(item["MUCDO"]),
                tier=item["CAPTHUCHIEN"],
            )
        )
    return tuple(out)


def _list(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key) or []
    return list(value)


def procedure_from_portal(result: object) -> Procedure:
    """The LayThuTuc ``result`` object as a record."""
    _check(result, "Procedure", "result", "LayThuTuc")
    assert isinstance(result, Mapping)  # checked by the schema
    return Procedure(
        code=result["MATTHC"],
        name=result["TENTTHC"],
        level=ServiceLevel(result["MUCDO"]),
        tier=result["CAPTHUCHIEN"],
        time_limit=result["THOIHANGIAIQUYET"],
        fields=tuple(
            CodeName(i["MALINHVUC"], i["TENLINHVUC"]) for i in _list(result, "LINHVUCTHUCHIEN")
        ),
        steps=tuple(
            ProcedureStep(int(i["BUOC"]), i["NOIDUNG"]) for i in _list(result, "TRINHTUTHUCHIEN")
        ),
        methods=tuple(
            ProcedureMethod(i["KENH"], i["MOTA"]) for i in _list(result, "CACHTHUCTHUCHIEN")
        ),
        components=tuple(
            ProcedureComponent(
                i["MATHANHPHAN"], i["TENGIAYTO"], int(i["SOBANCHINH"]), int(i["SOBANSAO"])
            )
            for i in _list(result, "THANHPHANHOSO")
        ),
        results=tuple(
            CodeName(i["MAKETQUA"], i["TENKETQUA"]) for i in _list(result, "KETQUATHUCHIEN")
        ),
        legal_bases=tuple(
            LegalBasis(i["SOKYHIEU"], i["TRICHYEU"]) for i in _list(result, "CANCUPHAPLY")
        ),
        agencies=tuple(
            CodeName(i["MACOQUAN"], i["TENCOQUAN"]) for i in _list(result, "COQUANTHUCHIEN")
        ),
        fees=tuple(
            ProcedureFee(
                i["MAPHILEPHI"], i["TENPHILEPHI"], int(i["MUCPHI"]), FeeKind(int(i["LOAIPHILEPHI"]))
            )
            for i in _list(result, "PHILEPHI")
        ),
    )


class TtlCache(Generic[T]):
    """A thread-safe time-to-live cache with single-flight fetching (see module rules)."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[float, T]] = {}
        self._fetching: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, fetch: Callable[[], T]) -> T:
        if self.ttl <= 0:
            return fetch()
        while True:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and entry[0] > self._clock():
                    return entry[1]
                flight = self._fetching.get(key)
                if flight is None:
                    flight = threading.Lock()
                    flight.acquire()
                    self._fetching[key] = flight
                    break
            with flight:  # another thread is fetching: wait for it, then look again
                pass
        try:
            value = fetch()
            with self._lock:
                self._entries[key] = (self._clock() + self.ttl, value)
            return value
        finally:
            with self._lock:
                del self._fetching[key]
            flight.release()


def procedure_to_portal(procedure: Procedure) -> dict[str, Any]:
    """A record back in the LayThuTuc ``result`` shape (the inverse of ``procedure_from_portal``)."""
    return {
        "MATTHC": procedure.code,
        "TENTTHC": procedure.name,
        "MUCDO": procedure.level.value,
        "CAPTHUCHIEN": procedure.tier,
        "THOIHANGIAIQUYET": procedure.time_limit,
        "LINHVUCTHUCHIEN": [{"MALINHVUC": f.code, "TENLINHVUC": f.name} for f in procedure.fields],
        "TRINHTUTHUCHIEN": [{"BUOC": s.number, "NOIDUNG": s.content} for s in procedure.steps],
        "CACHTHUCTHUCHIEN": [{"KENH": m.channel, "MOTA": m.description} for m in procedure.methods],
        "THANHPHANHOSO": [
            {
                "MATHANHPHAN": c.code,
                "TENGIAYTO": c.name,
                "SOBANCHINH": c.originals,
                "SOBANSAO": c.copies,
            }
            for c in procedure.components
        ],
        "KETQUATHUCHIEN": [{"MAKETQUA": r.code, "TENKETQUA": r.name} for r in procedure.results],
        "CANCUPHAPLY": [
            {"SOKYHIEU": b.reference, "TRICHYEU": b.summary} for b in procedure.legal_bases
        ],
        "COQUANTHUCHIEN": [{"MACOQUAN": a.code, "TENCOQUAN": a.name} for a in procedure.agencies],
        "PHILEPHI": [
            {
                "MAPHILEPHI": f.code,
                "TENPHILEPHI": f.name,
                "MUCPHI": f.amount,
                "LOAIPHILEPHI": str(int(f.kind)),
            }
            for f in procedure.fees
        ],
    }
