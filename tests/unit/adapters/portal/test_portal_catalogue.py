"""Catalogue translation, the TTL cache, and the classification of portal answer codes."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from adapters.portal import answers, catalogue
from adapters.portal.records import FeeKind, ServiceLevel
from gateway.domain.errors import UpstreamMalformed, UpstreamRejected, UpstreamUnavailable

PROCEDURE: dict[str, Any] = {
    "MATTHC": "1.001193",
    "TENTTHC": "Thủ tục đăng ký khai sinh",
    "MUCDO": "toàn trình",
    "CAPTHUCHIEN": "Cấp Xã",
    "THOIHANGIAIQUYET": "Ngay trong ngày",
    "LINHVUCTHUCHIEN": [{"MALINHVUC": "HOTICH", "TENLINHVUC": "Hộ tịch"}],
    "TRINHTUTHUCHIEN": [{"BUOC": 1, "NOIDUNG": "Nộp hồ sơ"}, {"BUOC": 2, "NOIDUNG": "Trả kết quả"}],
    "CACHTHUCTHUCHIEN": [{"KENH": "Trực tuyến", "MOTA": "Qua Cổng DVCQG"}],
    "THANHPHANHOSO": [
        {"MATHANHPHAN": "TP01", "TENGIAYTO": "Giấy chứng sinh", "SOBANCHINH": 1, "SOBANSAO": 0}
    ],
    "KETQUATHUCHIEN": [{"MAKETQUA": "KQ01", "TENKETQUA": "Giấy khai sinh"}],
    "CANCUPHAPLY": [{"SOKYHIEU": "60/2014/QH13", "TRICHYEU": "Luật Hộ tịch"}],
    "COQUANTHUCHIEN": [{"MACOQUAN": "000.00.00.H26", "TENCOQUAN": "UBND cấp xã"}],
    "PHILEPHI": [{"MAPHILEPHI": "LP01", "TENPHILEPHI": "Lệ phí", "MUCPHI": 0, "LOAIPHILEPHI": "2"}],
}


def test_procedure_from_portal() -> None:
    procedure = catalogue.procedure_from_portal(PROCEDURE)
    assert procedure.code == "1.001193"
    assert procedure.level is ServiceLevel.FULL
    assert [s.number for s in procedure.steps] == [1, 2]
    assert procedure.fees[0].kind is FeeKind.CHARGE
    assert procedure.agencies[0].code == "000.00.00.H26"


def test_procedure_breaking_the_contract_is_malformed_naming_the_path() -> None:
    broken = {**PROCEDURE, "MUCDO": "một nửa"}
    with pytest.raises(UpstreamMalformed, match=r"result\.MUCDO"):
        catalogue.procedure_from_portal(broken)
    with pytest.raises(UpstreamMalformed, match="LayDanhSachTTHC"):
        catalogue.summaries_from_portal([{"MATTHC": "1.1"}])
    with pytest.raises(UpstreamMalformed):
        catalogue.summaries_from_portal({"not": "a list"})


def test_ttl_cache_expires_and_refetches() -> None:
    now = [100.0]
    cache: catalogue.TtlCache[int] = catalogue.TtlCache(10, clock=lambda: now[0])
    calls: list[int] = []

    def fetch() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get("k", fetch) == 1
    now[0] += 9.9
    assert cache.get("k", fetch) == 1
    now[0] += 0.2
    assert cache.get("k", fetch) == 2
    assert cache.get("other", fetch) == 3


def test_ttl_cache_fetches_once_under_concurrency_and_caches_no_failure() -> None:
    cache: catalogue.TtlCache[str] = catalogue.TtlCache(60)
    calls: list[int] = []
    lock = threading.Lock()

    def slow_fetch() -> str:
        with lock:
            calls.append(1)
        time.sleep(0.05)
        return "catalogue"

    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("k", slow_fetch)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["catalogue"] * 8
    assert len(calls) == 1

    def failing() -> str:
        raise UpstreamUnavailable("portal", "down")

    with pytest.raises(UpstreamUnavailable):
        cache.get("x", failing)
    assert cache.get("x", lambda: "recovered") == "recovered"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("01", UpstreamUnavailable),
        ("99", UpstreamUnavailable),
        ("02", UpstreamRejected),
        ("04", UpstreamRejected),
        ("07", UpstreamRejected),
    ],
)
def test_answer_codes_are_classified(code: str, error: type[Exception]) -> None:
    answer = answers.read_answer(
        {"error_code": code, "message": "hồ sơ 001203001234 lỗi"}, "DongBoHoSoMC"
    )
    refusal = answers.refusal(answer, "DongBoHoSoMC")
    assert isinstance(refusal, error)
    assert f"error_code {code}" in str(refusal)
    assert "001203001234" not in str(refusal)  # digit runs masked
    assert refusal.transient is (error is UpstreamUnavailable)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"error_code": 0},
        {"error_code": "42", "message": ""},
        {"error_code": "00", "message": 5},
    ],
)
def test_answers_outside_the_contract_are_malformed(data: object) -> None:
    with pytest.raises(UpstreamMalformed):
        answers.read_answer(data, "TraCuuHoSo")


def test_portal_messages_are_quoted_without_values() -> None:
    text = answers.safe_message("$.data[0].ChuHoSo: 'Nguyễn Văn An' is too long; số 001203001234")
    assert "Nguyễn" not in text
    assert "001203001234" not in text
    assert "ChuHoSo" in text
