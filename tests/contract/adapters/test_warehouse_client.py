"""The warehouse client against the warehouse mock, in-process and over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from adapters.http import HttpConfig
from adapters.warehouse.client import WarehouseClient, WarehouseConfig
from adapters.warehouse.records import DocumentQuery, ResultKind
from adapters.warehouse.wire import WarehouseRefused
from gateway.domain.errors import UpstreamMalformed, UpstreamTimeout, UpstreamUnavailable
from gateway.testing.recorders import ListRecorder
from mocks.framework import FaultSpec
from mocks.warehouse.app import WarehouseMock

Site = Callable[[WarehouseMock], AbstractContextManager[str]]


@pytest.fixture(scope="module")
def seeded() -> WarehouseMock:
    return WarehouseMock(size=40)


@pytest.fixture
def mock(seeded: WarehouseMock) -> WarehouseMock:
    seeded.reset()
    return seeded


@pytest.fixture
def site(partner_site: Site, mock: WarehouseMock) -> Iterator[str]:
    with partner_site(mock) as base:
        yield base


def make_client(
    base: str, *, max_file_bytes: int = 400_000
) -> tuple[WarehouseClient, ListRecorder]:
    recorder = ListRecorder()
    http = HttpConfig(
        "warehouse",
        base,
        connect_timeout=1.0,
        read_timeout=1.0,  # under the mock's HANG_SECONDS (1.5), above a slow machine's first call
        allow_plain_http=True,
        max_answer_bytes=800_000,
        read_retries=1,
        retry_backoff=0.0,
    )
    return WarehouseClient(WarehouseConfig(http, max_file_bytes=max_file_bytes), recorder), recorder


def owner_query(
    mock: WarehouseMock, channel: str = "1", requester: str | None = None
) -> DocumentQuery:
    owner_id = mock.documents[0].owner_id
    kinds = tuple(
        ResultKind(code) for code in ("KQ.KHAISINH", "KQ.KETHON", "KQ.LLTP", "KQ.TNTHPT", "KQ.GPLX")
    )
    return DocumentQuery(
        owner_id, "Nguyễn Văn Cán Bộ", requester or owner_id, channel, "1.001193", kinds
    )  # type: ignore[arg-type]


def test_find_results_then_fetch_the_file(site: str, mock: WarehouseMock) -> None:
    client, recorder = make_client(site)
    found = client.find_results(owner_query(mock))
    expected = [d for d in mock.documents if d.owner_id == mock.documents[0].owner_id]
    assert [d.number for d in found.documents] == [d.reference_number for d in expected]
    assert len(found.signature) == 64
    document = found.documents[0]
    content = client.fetch_file(document.issuing_agency, document.attachments[0].path)
    assert content == mock.file_bytes(document.attachments[0].path)
    assert content.startswith(b"%PDF-")
    assert all(e.personal for e in recorder.exchanges) and len(recorder.exchanges) == 4
    assert mock.documents[0].owner_id not in repr(owner_query(mock))


def test_no_result_is_an_empty_list(site: str, mock: WarehouseMock) -> None:
    client, _ = make_client(site)
    query = DocumentQuery(
        "001203999999", "Ai Đó", "001203999999", "1", "1.001193", (ResultKind("KQ.KHAISINH"),)
    )
    assert client.find_results(query).documents == ()


def test_refusals_carry_the_warehouse_code(site: str, mock: WarehouseMock) -> None:
    client, _ = make_client(site)
    with pytest.raises(WarehouseRefused, match=r"errorCode 3 \(access refused\)") as refused:
        client.find_results(owner_query(mock, channel="2", requester="001203999999"))
    assert refused.value.error_code == 3 and not refused.value.transient
    with pytest.raises(WarehouseRefused, match="errorCode 2") as missing:
        client.fetch_file("000.00.01.H26", "kho/2003/0000000000000000.pdf")
    assert "0000000000000000" not in str(missing.value)  # digit runs masked


def test_a_file_over_the_limit_is_refused(site: str, mock: WarehouseMock) -> None:
    client, _ = make_client(site, max_file_bytes=100)
    document = mock.documents[0]
    with pytest.raises(UpstreamMalformed, match="over the 100-byte limit"):
        client.fetch_file(document.issuer, document.attachments[0].path)


FAULTS: list[tuple[FaultSpec, type[Exception], str]] = [
    (FaultSpec(route="POST /GetKetQuaGiayTo", timeout=True), UpstreamTimeout, "no answer within"),
    (FaultSpec(route="POST /GetKetQuaGiayTo", status=503), UpstreamUnavailable, "HTTP 503"),
    (FaultSpec(route="POST /GetKetQuaGiayTo", status=200), UpstreamUnavailable, "errorCode 99"),
    (
        FaultSpec(route="POST /GetKetQuaGiayTo", expired_session=True),
        WarehouseRefused,
        "errorCode 4",
    ),
    (FaultSpec(route="POST /GetKetQuaGiayTo", malformed=True), UpstreamMalformed, "not JSON"),
    (
        FaultSpec(route="POST /GetKetQuaGiayTo", oversized_bytes=900_000),
        UpstreamMalformed,
        "over the 800000-byte limit",
    ),
]


@pytest.mark.parametrize(
    ("fault", "error", "message"), FAULTS, ids=lambda v: getattr(v, "__name__", None)
)
def test_fault_modes_are_classified(
    site: str, mock: WarehouseMock, fault: FaultSpec, error: type[Exception], message: str
) -> None:
    client, _ = make_client(site)
    mock.add_fault(fault)
    with pytest.raises(error, match=message) as caught:
        client.find_results(owner_query(mock))
    assert str(caught.value).startswith("warehouse: GetKetQuaGiayTo: ")
