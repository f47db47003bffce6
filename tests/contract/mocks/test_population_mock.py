"""The population mock's behaviour: seeded citizens, lookups, verification, authentication,
refusals in SOAP Fault form, and hardened XML (DTD / external entity → fault, no file read)."""

from __future__ import annotations

import base64
import os
import re
import time
from pathlib import Path

import pytest
from lxml import etree

from mocks.framework import MockRequest, MockResponse
from mocks.population.app import PopulationMock
from mocks.population.auth import basic_authorization
from mocks.population.people import Citizen
from mocks.population.places import PROVINCES
from mocks.population.seed import generate_population
from mocks.settings import MockSettings

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
ANSWER_NS = "http://www.mic.gov.vn/dancu/1.0"
PUBLIC = "http://population.test"
ENDPOINT = f"{PUBLIC}/population/ws"
SECRET = "demo-population-secret"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def mock(clock: Clock) -> PopulationMock:
    return PopulationMock(MockSettings(public_url=PUBLIC), token_ttl_seconds=60, clock=clock)


def direct_headers(
    clock: Clock, *, url: str = ENDPOINT, secret: str = SECRET, skew_ms: int = 0
) -> dict[str, str]:
    stamp = str(int(clock.now * 1000) + skew_ms)
    return {
        "content-type": "text/xml; charset=utf-8",
        "timestamp": stamp,
        "authorization": basic_authorization(url, "demo", stamp, secret),
    }


def envelope(inner: str, operation: str = "TraCuuThongTinCongDan") -> bytes:
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns:dan="http://dancuquocgia.bca">'
        f"<soapenv:Body><dan:{operation}>{inner}</dan:{operation}></soapenv:Body></soapenv:Envelope>"
    ).encode()


def request_fields(
    citizen: Citizen,
    *,
    code: str = "037",
    name: str | None = None,
    birth: str | None = None,
    by_old_id: bool = False,
) -> str:
    if birth is None:
        birth = citizen.birth_year if citizen.birth_year_only else citizen.birth_date_text
    birth_xml = (
        f"<dan:NgayThangNam>{birth}</dan:NgayThangNam>"
        if len(birth) == 8
        else f"<dan:Nam>{birth}</dan:Nam>"
    )
    number = (
        f"<dan:SoCMND>{citizen.old_id_number}</dan:SoCMND>"
        if by_old_id
        else f"<dan:SoDinhDanh>{citizen.id_number}</dan:SoDinhDanh>"
    )
    return (
        f"<dan:MaYeuCau>req-1</dan:MaYeuCau><dan:MaDVC>2.000815.01</dan:MaDVC><dan:MaTichHop>{code}</dan:MaTichHop>"
        f"<dan:MaCanBo>cb001</dan:MaCanBo><dan:MaDonVi>000.00.00.H26</dan:MaDonVi>{number}"
        f"<dan:HoVaTen>{citizen.full_name if name is None else name}</dan:HoVaTen>"
        f"<dan:NgayThangNamSinh>{birth_xml}</dan:NgayThangNamSinh>"
    )


def call(
    mock: PopulationMock, clock: Clock, body: bytes, headers: dict[str, str] | None = None
) -> MockResponse:
    return mock.handle(
        MockRequest("POST", "/ws", headers=headers or direct_headers(clock), body=body)
    )


def body_child(response: MockResponse) -> etree._Element:
    body = etree.fromstring(response.body).find(f"{{{SOAP_NS}}}Body")
    assert body is not None
    return body[0]


def fault_of(response: MockResponse) -> tuple[str, str, str]:
    fault = body_child(response)
    assert fault.tag == f"{{{SOAP_NS}}}Fault", response.body[:300]
    code = fault.findtext(f".//{{{ANSWER_NS}}}MaLoi", "")
    return fault.findtext("faultcode", ""), code, fault.findtext("faultstring", "")


def found_ids(response: MockResponse) -> list[str]:
    collection = body_child(response)
    assert collection.tag == f"{{{ANSWER_NS}}}CongdanCollection"
    return [node.findtext(f"{{{ANSWER_NS}}}SoDinhDanh", "") for node in collection]


# -- the seeded population ---------------------------------------------------------------
def test_population_is_deterministic_large_and_valid() -> None:
    population = generate_population()
    assert len(population.citizens) >= 1000
    assert population.citizens == generate_population().citizens
    assert generate_population(seed=7).citizens[0] != population.citizens[0]
    assert len(population.by_id) == len(population.citizens)  # numbers unique
    for citizen in population.citizens:
        number = citizen.id_number
        assert re.fullmatch(r"\d{12}", number) and number[:3] in PROVINCES
        century_digit = int(number[3])
        assert (century_digit // 2 + 19) * 100 == citizen.birth_date.year // 100 * 100
        assert century_digit % 2 == (0 if citizen.gender == "1" else 1)
        assert number[4:6] == f"{citizen.birth_date.year % 100:02d}"
        assert citizen.old_id_number == "" or re.fullmatch(r"\d{9}", citizen.old_id_number)
        assert citizen.permanent_address.province_code == "01"
        head = population.by_id[citizen.household_head.id_number]
        assert head.household_book == citizen.household_book
    assert sum(c.birth_year_only for c in population.citizens) > 20
    assert any(c.representative is not None for c in population.citizens)
    assert any(
        c.spouse is not None and c.spouse.id_number in population.by_id for c in population.citizens
    )


def test_state_lists_seeded_citizens(mock: PopulationMock) -> None:
    state = mock.handle(MockRequest("GET", "/_mock/state")).json_body()
    assert state["count"] == len(state["citizens"]) >= 1000
    assert state["citizens"][0]["SoDinhDanh"] == mock.population.citizens[0].id_number


# -- lookups and verification -------------------------------------------------------------
def test_lookup_returns_the_citizen_in_upper_case(mock: PopulationMock, clock: Clock) -> None:
    citizen = mock.population.citizens[3]
    response = call(mock, clock, envelope(request_fields(citizen, name=citizen.full_name.lower())))
    assert response.status == 200
    assert found_ids(response) == [citizen.id_number]
    node = body_child(response)[0]
    assert node.findtext(f"{{{ANSWER_NS}}}HoVaTen/{{{ANSWER_NS}}}Ten") == citizen.given_name.upper()


def test_lookup_by_old_id_card(mock: PopulationMock, clock: Clock) -> None:
    citizen = next(c for c in mock.population.citizens if c.old_id_number)
    response = call(mock, clock, envelope(request_fields(citizen, by_old_id=True)))
    assert found_ids(response) == [citizen.id_number]


def test_year_only_citizen_matches_a_year_request_only(mock: PopulationMock, clock: Clock) -> None:
    citizen = next(c for c in mock.population.citizens if c.birth_year_only)
    hit = call(mock, clock, envelope(request_fields(citizen)))
    assert found_ids(hit) == [citizen.id_number]
    assert (
        body_child(hit)[0].findtext(f"{{{ANSWER_NS}}}NgayThangNamSinh/{{{ANSWER_NS}}}Nam")
        == citizen.birth_year
    )
    miss = call(mock, clock, envelope(request_fields(citizen, birth=f"{citizen.birth_year}0101")))
    assert found_ids(miss) == []


@pytest.mark.parametrize("change", ["unknown number", "wrong name", "wrong birth date"])
def test_no_match_is_an_empty_collection_not_a_fault(
    mock: PopulationMock, clock: Clock, change: str
) -> None:
    citizen = next(c for c in mock.population.citizens if not c.birth_year_only)
    fields = {
        "unknown number": request_fields(citizen).replace(citizen.id_number, "001099999999"),
        "wrong name": request_fields(citizen, name="Không Có Ai"),
        "wrong birth date": request_fields(citizen, birth="19000101"),
    }[change]
    response = call(mock, clock, envelope(fields))
    assert response.status == 200
    assert found_ids(response) == []


def _verification(response: MockResponse) -> tuple[str, str, list[str]]:
    result = body_child(response)
    assert result.tag == f"{{{ANSWER_NS}}}KetQuaXacThuc"
    mismatched = [node.text or "" for node in result.findall(f"{{{ANSWER_NS}}}TruongKhongKhop")]
    return (
        result.findtext(f"{{{ANSWER_NS}}}TonTai", ""),
        result.findtext(f"{{{ANSWER_NS}}}ThongTinChinhXac", ""),
        mismatched,
    )


def test_verification_answers_whether_data_match(mock: PopulationMock, clock: Clock) -> None:
    citizen = next(c for c in mock.population.citizens if not c.birth_year_only)
    op = "XacThucThongTinCongDan"
    assert _verification(call(mock, clock, envelope(request_fields(citizen, code="003"), op))) == (
        "true",
        "true",
        [],
    )
    wrong = request_fields(citizen, code="003", name="Sai Tên", birth="19000101")
    assert _verification(call(mock, clock, envelope(wrong, op))) == (
        "true",
        "false",
        ["HoVaTen", "NgayThangNamSinh"],
    )
    unknown = request_fields(citizen, code="003").replace(citizen.id_number, "001099999999")
    assert _verification(call(mock, clock, envelope(unknown, op))) == (
        "false",
        "false",
        ["SoDinhDanh"],
    )


# -- refusals: at least three kinds per operation ------------------------------------------
@pytest.mark.parametrize(
    "operation,code", [("TraCuuThongTinCongDan", "037"), ("XacThucThongTinCongDan", "003")]
)
@pytest.mark.parametrize(
    "breakage,expected_text",
    [
        ("bad_number", "SoDinhDanh"),
        ("missing_name", "HoVaTen"),
        ("wrong_integration_code", "MaTichHop"),
        ("impossible_date", "calendar date"),
        ("too_long_request_id", "MaYeuCau"),
    ],
)
def test_invalid_requests_get_a_validation_fault(
    mock: PopulationMock, clock: Clock, operation: str, code: str, breakage: str, expected_text: str
) -> None:
    citizen = next(c for c in mock.population.citizens if not c.birth_year_only)
    fields = request_fields(citizen, code=code)
    fields = {
        "bad_number": fields.replace(citizen.id_number, citizen.id_number[:11]),
        "missing_name": re.sub(r"<dan:HoVaTen>.*?</dan:HoVaTen>", "", fields),
        "wrong_integration_code": fields.replace(f">{code}<", ">999<"),
        "impossible_date": re.sub(r"<dan:NgayThangNam>\d+<", "<dan:NgayThangNam>20230230<", fields),
        "too_long_request_id": fields.replace(">req-1<", ">" + "x" * 41 + "<"),
    }[breakage]
    response = call(mock, clock, envelope(fields, operation))
    assert response.status == 500
    faultcode, error_code, message = fault_of(response)
    assert (faultcode, error_code) == ("soapenv:Client.Validation", "500")
    assert expected_text in message


@pytest.mark.parametrize(
    "body,expected",
    [
        (
            b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'><soapenv:Body>",
            "501",
        ),
        (b"<notsoap/>", "501"),
        (envelope("<dan:X/>", "KhongCoThaoTacNay"), "500"),
    ],
)
def test_malformed_or_unknown_requests_get_a_fault(
    mock: PopulationMock, clock: Clock, body: bytes, expected: str
) -> None:
    response = call(mock, clock, body)
    assert response.status == 500
    assert fault_of(response)[1] == expected


def test_non_xml_content_type_is_refused(mock: PopulationMock, clock: Clock) -> None:
    headers = {**direct_headers(clock), "content-type": "application/json"}
    response = call(mock, clock, envelope(request_fields(mock.population.citizens[0])), headers)
    assert fault_of(response)[1] == "500"


# -- hardened XML ------------------------------------------------------------------------
def test_external_entity_gets_a_fault_and_reads_no_file(
    mock: PopulationMock, clock: Clock, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    # relatime: an access time older than the mtime is updated by any read
    os.utime(secret, (1_000_000, 2_000_000))
    before = os.stat(secret).st_atime
    citizen = mock.population.citizens[0]
    fields = request_fields(citizen, name="&xxe;")
    payload = (
        f'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode()
        + envelope(fields)
    )
    response = call(mock, clock, payload)
    assert response.status == 500
    faultcode, error_code, message = fault_of(response)
    assert (faultcode, error_code) == ("soapenv:Client.Malformed", "501")
    assert "DTD" in message
    assert b"TOP-SECRET-MARKER" not in response.body
    control = tmp_path / "control.txt"
    control.write_text("x")
    os.utime(control, (1_000_000, 2_000_000))
    control.read_text()
    if os.stat(control).st_atime != 1_000_000:  # this filesystem records reads: none happened
        assert os.stat(secret).st_atime == before


def test_billion_laughs_gets_a_fault(mock: PopulationMock, clock: Clock) -> None:
    payload = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        + envelope("<dan:MaYeuCau>&lol2;</dan:MaYeuCau>")
    )
    response = call(mock, clock, payload)
    assert fault_of(response)[1] == "501"


# -- authentication ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "make_headers,reason",
    [
        (lambda c: {"content-type": "text/xml"}, "missing Authorization"),
        (lambda c: direct_headers(c, secret="wrong-secret"), "digest does not match"),
        (
            lambda c: direct_headers(c, url="http://elsewhere.test/population/ws"),
            "digest does not match",
        ),
        (lambda c: direct_headers(c, skew_ms=6 * 60 * 1000), "5 minutes"),
        (
            lambda c: {k: v for k, v in direct_headers(c).items() if k != "timestamp"},
            "missing Timestamp",
        ),
        (
            lambda c: {"content-type": "text/xml", "authorization": "Bearer not-a-token"},
            "unknown Bearer",
        ),
    ],
)
def test_unauthenticated_calls_get_an_authentication_fault(
    mock: PopulationMock, clock: Clock, make_headers: object, reason: str
) -> None:
    headers = make_headers(clock)  # type: ignore[operator]
    response = call(mock, clock, envelope(request_fields(mock.population.citizens[0])), headers)
    assert response.status == 401
    faultcode, error_code, message = fault_of(response)
    assert (faultcode, error_code) == ("soapenv:Client.Authentication", "100")
    assert reason in message


def test_direct_call_accepts_the_url_from_the_host_header(
    mock: PopulationMock, clock: Clock
) -> None:
    headers = {
        **direct_headers(clock, url="http://127.0.0.1:8090/population/ws"),
        "host": "127.0.0.1:8090",
    }
    response = call(mock, clock, envelope(request_fields(mock.population.citizens[0])), headers)
    assert found_ids(response) == [mock.population.citizens[0].id_number]


def _token(mock: PopulationMock, headers: dict[str, str], body: bytes) -> MockResponse:
    return mock.handle(MockRequest("POST", "/token", headers=headers, body=body))


def test_lgsp_token_flow_and_expiry(mock: PopulationMock, clock: Clock) -> None:
    basic = "Basic " + base64.b64encode(f"demo:{SECRET}".encode()).decode()
    form = {"content-type": "application/x-www-form-urlencoded"}
    answer = _token(mock, {**form, "authorization": basic}, b"grant_type=client_credentials")
    assert answer.status == 200
    token = answer.json_body()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 60
    bearer = {"content-type": "text/xml", "authorization": f"Bearer {token['access_token']}"}
    citizen = mock.population.citizens[0]
    assert found_ids(call(mock, clock, envelope(request_fields(citizen)), bearer)) == [
        citizen.id_number
    ]
    clock.now += 61
    try:
        expired = call(mock, clock, envelope(request_fields(citizen)), bearer)
    finally:
        clock.now -= 61
    assert expired.status == 401 and "expired" in fault_of(expired)[2]
    # form credentials work too; the control API expires every token
    second = _token(
        mock, form, f"grant_type=client_credentials&client_id=demo&client_secret={SECRET}".encode()
    )
    bearer2 = {
        "content-type": "text/xml",
        "authorization": f"Bearer {second.json_body()['access_token']}",
    }
    assert (
        mock.handle(MockRequest("POST", "/_mock/expire-tokens")).json_body()["expired_tokens"] >= 1
    )
    assert call(mock, clock, envelope(request_fields(citizen)), bearer2).status == 401


@pytest.mark.parametrize(
    "headers,body,status,error",
    [
        (
            {"content-type": "application/x-www-form-urlencoded"},
            b"grant_type=password",
            400,
            "unsupported_grant_type",
        ),
        (
            {"content-type": "application/x-www-form-urlencoded"},
            b"client_id=demo",
            400,
            "invalid_request",
        ),
        (
            {"content-type": "application/json"},
            b'{"grant_type":"client_credentials"}',
            400,
            "invalid_request",
        ),
        (
            {"content-type": "application/x-www-form-urlencoded"},
            b"grant_type=client_credentials&client_id=demo&client_secret=x",
            401,
            "invalid_client",
        ),
        (
            {"content-type": "application/x-www-form-urlencoded"},
            b"grant_type=client_credentials",
            401,
            "invalid_client",
        ),
    ],
)
def test_bad_token_requests_get_rfc6749_errors(
    mock: PopulationMock, headers: dict[str, str], body: bytes, status: int, error: str
) -> None:
    answer = _token(mock, headers, body)
    assert answer.status == status
    assert answer.json_body()["error"] == error


def test_wsdl_is_served_with_this_mock_as_address(mock: PopulationMock) -> None:
    answer = mock.handle(MockRequest("GET", "/ws", query={"wsdl": ""}))
    assert answer.status == 200
    assert b'location="http://population.test/population/ws"' in answer.body
    assert mock.handle(MockRequest("GET", "/dancu-request.xsd")).status == 200
