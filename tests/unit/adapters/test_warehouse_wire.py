"""Warehouse translation: requests against the contract (hypothesis), answers, file limits."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters._contracts import validator
from adapters.warehouse import wire
from adapters.warehouse.records import DocumentQuery, ResultKind
from gateway.domain.errors import InvalidInput, UpstreamMalformed, UpstreamUnavailable

cccd = st.from_regex(r"\A0[0-9]{11}\Z")
kinds = st.lists(
    st.builds(
        ResultKind, st.from_regex(r"\AKQ\.[A-Z]{2,10}\Z"), st.sampled_from(["", "123/2003/KS"])
    ),
    min_size=1,
    max_size=50,
)
queries = st.builds(
    DocumentQuery, cccd, st.text(min_size=1, max_size=60).filter(str.strip), cccd, st.sampled_from(["1", "2", "3"]),
    st.from_regex(r"\A[0-9]\.[0-9]{6}\Z"), kinds.map(tuple),
)  # fmt: skip


@given(query=queries)
def test_every_request_validates_against_the_contract(query: DocumentQuery) -> None:
    message = wire.find_request(query)
    assert not list(
        validator(wire.CONTRACT, "/components/schemas/GetKetQuaGiayToRequest").iter_errors(message)
    )
    assert [k["MaKetQua"] for k in message["DanhSachDanhMucKetQua"]] == [
        k.code for k in query.kinds
    ]


def test_bad_requests_name_the_field_not_the_value() -> None:
    query = DocumentQuery(
        "0012", "An", "001203001234", "1", "1.001193", (ResultKind("KQ.KHAISINH"),)
    )
    with pytest.raises(InvalidInput) as refused:
        wire.find_request(query)
    assert refused.value.field == "$.SoDinhDanhChuSoHuu" and "0012" not in str(
        refused.value
    ).replace("$.SoDinhDanhChuSoHuu", "")
    with pytest.raises(InvalidInput, match=r"\$\.CoQuanChuQuan"):
        wire.fetch_request("H26", "kho/x.pdf")


@given(content=st.binary(min_size=1, max_size=300))
def test_file_round_trip_within_the_limit(content: bytes) -> None:
    body = json.dumps(base64.b64encode(content).decode()).encode()
    assert wire.parse_fetch_answer(body, max_file_bytes=300) == content


def test_file_answers_refused() -> None:
    big = json.dumps(base64.b64encode(b"x" * 1000).decode()).encode()
    with pytest.raises(UpstreamMalformed, match="over the 999-byte limit"):
        wire.parse_fetch_answer(big, max_file_bytes=999)
    with pytest.raises(UpstreamMalformed, match="standard base64"):
        wire.parse_fetch_answer(b'"not base64!!"', max_file_bytes=100)
    with pytest.raises(UpstreamMalformed, match="not a base64 string"):
        wire.parse_fetch_answer(b"[1]", max_file_bytes=100)
    with pytest.raises(wire.WarehouseRefused, match="errorCode 2"):
        wire.parse_fetch_answer(
            b'{"errorCode": 2, "message": "no", "signature": "", "result": null}',
            max_file_bytes=100,
        )
    with pytest.raises(UpstreamUnavailable, match="errorCode 99"):
        wire.parse_fetch_answer(b'{"errorCode": 99, "message": "down"}', max_file_bytes=100)


def test_find_answers() -> None:
    ok = {"errorCode": 0, "message": "ok", "signature": "s", "result": {"DanhSachGiayToKetQua": [
        {"MaKetQua": "KQ.KHAISINH", "TenGiayTo": "Giấy khai sinh", "SoKyHieu": "1/2003/KS", "CoQuanChuQuan": "000.00.05.H26",
         "DanhSachTepDinhKem": [{"TenTep": "a.pdf", "DuongDan": "kho/2003/a.pdf"}]}]}}  # fmt: skip
    found = wire.parse_find_answer(json.dumps(ok).encode())
    assert found.documents[0].attachments[0].path == "kho/2003/a.pdf" and found.signature == "s"
    ok["result"]["DanhSachGiayToKetQua"][0]["CoQuanChuQuan"] = "H26"  # type: ignore[index]
    with pytest.raises(
        UpstreamMalformed, match=r"\$\.result\.DanhSachGiayToKetQua\[0\]\.CoQuanChuQuan: pattern"
    ):
        wire.parse_find_answer(json.dumps(ok).encode())
