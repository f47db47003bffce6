"""The population client against the population mock, in-process and over real HTTP.

Every operation, both authentication schemes, and every fault mode the mock offers, each
ending in the right classification with a clear error that carries no personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Literal

import pytest

from adapters.http import CallContext, HttpConfig
from adapters.population.client import PopulationClient, PopulationConfig
from adapters.population.records import BirthDate, CitizenQuery
from gateway.domain.errors import (
    UpstreamMalformed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.testing.recorders import ListRecorder
from mocks.framework import FaultSpec
from mocks.population.app import PopulationMock
from mocks.population.people import Citizen as MockCitizen

Site = Callable[[PopulationMock], AbstractContextManager[str]]
WSDL = "contracts/population/dancu.wsdl"


@pytest.fixture(scope="module")
def mock_factory() -> Callable[[], PopulationMock]:
    return lambda: PopulationMock(size=60)


@pytest.fixture
def mock(mock_factory: Callable[[], PopulationMock]) -> PopulationMock:
    return mock_factory()


@pytest.fixture
def site(partner_site: Site, mock: PopulationMock) -> Iterator[str]:
    with partner_site(mock) as base:
        yield base


def make_client(
    base: str,
    scheme: Literal["direct", "lgsp"] = "direct",
    *,
    secret: str = "demo-population-secret",
    max_answer_bytes: int = 1_000_000,
) -> tuple[PopulationClient, ListRecorder]:
    recorder = ListRecorder()
    http = HttpConfig(
        "population",
        f"{base}/ws",
        connect_timeout=1.0,
        read_timeout=1.0,  # under the mock's HANG_SECONDS (1.5), above a slow machine's first call
        allow_plain_http=True,
        max_answer_bytes=max_answer_bytes,
        read_retries=1,
        retry_backoff=0.0,
    )
    config = PopulationConfig(
        http,
        WSDL,
        scheme,
        "demo",
        secret,
        api_key="k",
        xroad_client="VN/GOV/000.00.00.H26/TTHC",
        token_url=f"{base}/token",
    )
    return PopulationClient(config, recorder), recorder


def query_for(citizen: MockCitizen, *, name: str | None = None) -> CitizenQuery:
    birth = BirthDate.parse(
        citizen.birth_year if citizen.birth_year_only else citizen.birth_date_text
    )
    return CitizenQuery(
        request_id="req-0001",
        service_code="2.000815.000.00.00.H26.01",
        officer_code="CB0001",
        full_name=name if name is not None else citizen.full_name,
        birth=birth,
        id_number=citizen.id_number,
        agency_code="000.00.00.H26",
    )


def full_date_citizen(mock: PopulationMock) -> MockCitizen:
    return next(c for c in mock.population.citizens if not c.birth_year_only)


@pytest.mark.parametrize("scheme", ["direct", "lgsp"])
def test_lookup_finds_the_citizen(
    site: str, mock: PopulationMock, scheme: Literal["direct", "lgsp"]
) -> None:
    client, recorder = make_client(site, scheme)
    seeded = full_date_citizen(mock)
    found = client.lookup(query_for(seeded), CallContext(correlation_id="corr-1"))
    assert found is not None
    assert found.id_number == seeded.id_number
    assert found.full_name == seeded.full_name.upper()
    assert found.birth is not None and found.birth.wire == seeded.birth_date_text
    assert found.permanent_address is not None and found.household_head is not None
    assert seeded.id_number not in repr(found) and seeded.given_name.upper() not in repr(found)
    sent = [e for e in recorder.exchanges if e.operation == "TraCuuThongTinCongDan"]
    assert [e.direction for e in sent] == ["out", "in"]
    assert all(e.personal and e.correlation_id == "corr-1" for e in sent)
    assert sent[1].status == 200
    body = mock.recorded[-1]["body"]
    assert "<ns0:MaTichHop>037</ns0:MaTichHop>" in body or ">037<" in body


def test_lgsp_token_is_cached_across_calls(site: str, mock: PopulationMock) -> None:
    client, _ = make_client(site, "lgsp")
    seeded = full_date_citizen(mock)
    client.lookup(query_for(seeded))
    client.verify(query_for(seeded))
    assert client.tokens is not None and client.tokens.fetches == 1
    assert [r["path"] for r in mock.recorded].count("/token") == 1


def test_year_only_birth_date(site: str, mock: PopulationMock) -> None:
    client, _ = make_client(site)
    seeded = next(c for c in mock.population.citizens if c.birth_year_only)
    found = client.lookup(query_for(seeded))
    assert found is not None and found.birth is not None
    assert found.birth.year_only and found.birth.wire == seeded.birth_year


def test_no_match_is_none_not_an_error(site: str, mock: PopulationMock) -> None:
    client, _ = make_client(site)
    assert client.lookup(query_for(full_date_citizen(mock), name="Không Có Ai")) is None


def test_verify_reports_mismatched_fields(site: str, mock: PopulationMock) -> None:
    client, _ = make_client(site)
    seeded = full_date_citizen(mock)
    ok = client.verify(query_for(seeded))
    assert ok.exists and ok.matches and ok.mismatched_fields == ()
    wrong = client.verify(query_for(seeded, name="Tên Khác Hẳn"))
    assert wrong.exists and not wrong.matches and wrong.mismatched_fields == ("HoVaTen",)
    assert wrong.request_id == "req-0001"


def test_wrong_secret_is_a_permanent_rejection(site: str, mock: PopulationMock) -> None:
    client, _ = make_client(site, secret="not-the-secret")
    with pytest.raises(UpstreamRejected, match=r"Client\.Authentication") as caught:
        client.lookup(query_for(full_date_citizen(mock)))
    assert not caught.value.transient


def test_expired_token_is_refreshed_once(site: str, mock: PopulationMock) -> None:
    client, _ = make_client(site, "lgsp")
    seeded = full_date_citizen(mock)
    client.lookup(query_for(seeded))
    mock.auth.expire_tokens()
    assert client.lookup(query_for(seeded)) is not None
    assert client.tokens is not None and client.tokens.fetches == 2


def test_expired_session_fault_with_direct_auth_is_rejected(
    site: str, mock: PopulationMock
) -> None:
    client, _ = make_client(site)
    mock.add_fault(FaultSpec(route="POST /ws", expired_session=True))
    with pytest.raises(
        UpstreamRejected, match="population: TraCuuThongTinCongDan: SOAP Fault Client"
    ):
        client.lookup(query_for(full_date_citizen(mock)))


FAULTS: list[tuple[FaultSpec, type[Exception], str]] = [
    (FaultSpec(route="POST /ws", timeout=True), UpstreamTimeout, "no answer within"),
    (FaultSpec(route="POST /ws", status=503), UpstreamUnavailable, "HTTP 503 from the partner"),
    (FaultSpec(route="POST /ws", soap_fault=True), UpstreamUnavailable, "SOAP Fault Server"),
    (FaultSpec(route="POST /ws", malformed=True), UpstreamMalformed, "not well-formed"),
    (
        FaultSpec(route="POST /ws", oversized_bytes=300_000),
        UpstreamMalformed,
        "over the 200000-byte limit",
    ),
    (FaultSpec(route="POST /ws"), UpstreamUnavailable, "SOAP Fault Server"),
]


@pytest.mark.parametrize(
    ("fault", "error", "message"), FAULTS, ids=lambda v: getattr(v, "__name__", None)
)
def test_fault_modes_are_classified(
    site: str, mock: PopulationMock, fault: FaultSpec, error: type[Exception], message: str
) -> None:
    client, _ = make_client(site, max_answer_bytes=200_000)
    seeded = full_date_citizen(mock)
    mock.add_fault(fault)
    with pytest.raises(error, match=message) as caught:
        client.lookup(query_for(seeded))
    text = str(caught.value)
    assert text.startswith("population: ")
    assert seeded.id_number not in text and seeded.family_name.upper() not in text


def test_a_transient_fault_is_retried_for_this_idempotent_read(
    site: str, mock: PopulationMock
) -> None:
    client, _ = make_client(site)
    mock.add_fault(FaultSpec(route="POST /ws", status=503, count=1))
    assert client.lookup(query_for(full_date_citizen(mock))) is not None
    assert [r["status"] for r in mock.recorded if r["path"] == "/ws"] == [503, 200]
