"""contracts/population: the WSDL loads in zeep, the XSDs compile, the token API is valid,
and the mock's answers (every operation, every fault mode) validate against them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename
from zeep import Client, Settings

from mocks.framework import FaultSpec, MockRequest, json_validator, schema_errors
from mocks.population.app import PopulationMock
from mocks.population.auth import basic_authorization
from mocks.settings import MockSettings

CONTRACTS = Path(__file__).resolve().parents[3] / "contracts" / "population"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
ANSWER_NS = "http://www.mic.gov.vn/dancu/1.0"
PUBLIC = "http://population.test"
ENDPOINT = f"{PUBLIC}/population/ws"


def _xsd(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(CONTRACTS / name)))


def test_wsdl_loads_in_zeep_with_both_operations() -> None:
    client = Client(str(CONTRACTS / "dancu.wsdl"), settings=Settings(strict=True, forbid_dtd=True))
    service = client.wsdl.services["DanCuService"]
    operations = service.ports["DanCuPort"].binding._operations
    assert set(operations) == {"TraCuuThongTinCongDan", "XacThucThongTinCongDan"}
    request_type = client.get_element("{http://dancuquocgia.bca}TraCuuThongTinCongDan").type
    names = [name for name, _ in request_type.elements]
    assert names == [
        "MaYeuCau", "MaDVC", "MaTichHop", "MaCanBo", "MaDonVi", "TaiKhoan", "SoDienThoai",
        "SoDinhDanh", "SoCMND", "HoVaTen", "NgayThangNamSinh",
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["dancu-request.xsd", "dancu-response.xsd"])
def test_xsds_compile(name: str) -> None:
    assert _xsd(name) is not None


def test_token_openapi_is_valid_and_examples_validate() -> None:
    spec, base = read_from_filename(str(CONTRACTS / "token.yaml"))
    validate(spec, base_uri=base)
    answers = spec["paths"]["/token"]["post"]["responses"]
    ok = json_validator("population/token.yaml", "/components/schemas/TokenResponse")
    assert schema_errors(ok, answers["200"]["content"]["application/json"]["example"]) == []
    error = json_validator("population/token.yaml", "/components/schemas/TokenError")
    for status in ("400", "401"):
        assert schema_errors(error, answers[status]["content"]["application/json"]["example"]) == []


def _request_xml(operation: str, code: str, number: str, name: str, birth: str) -> bytes:
    birth_xml = (
        f"<dan:NgayThangNam>{birth}</dan:NgayThangNam>"
        if len(birth) == 8
        else f"<dan:Nam>{birth}</dan:Nam>"
    )
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns:dan="http://dancuquocgia.bca">'
        f"<soapenv:Header/><soapenv:Body><dan:{operation}>"
        f"<dan:MaYeuCau>req-{operation}</dan:MaYeuCau><dan:MaDVC>2.000815.01</dan:MaDVC>"
        f"<dan:MaTichHop>{code}</dan:MaTichHop><dan:MaCanBo>cb001</dan:MaCanBo>"
        f"<dan:SoDinhDanh>{number}</dan:SoDinhDanh><dan:HoVaTen>{name}</dan:HoVaTen>"
        f"<dan:NgayThangNamSinh>{birth_xml}</dan:NgayThangNamSinh>"
        f"</dan:{operation}></soapenv:Body></soapenv:Envelope>"
    ).encode()


def _headers() -> dict[str, str]:
    stamp = str(int(time.time() * 1000))
    return {
        "content-type": "text/xml; charset=utf-8",
        "soapaction": '""',
        "timestamp": stamp,
        "authorization": basic_authorization(ENDPOINT, "demo", stamp, "demo-population-secret"),
    }


@pytest.fixture(scope="module")
def mock() -> PopulationMock:
    return PopulationMock(MockSettings(public_url=PUBLIC))


def _body_child(data: bytes) -> etree._Element:
    root = etree.fromstring(data)
    body = root.find(f"{{{SOAP_NS}}}Body")
    assert body is not None
    return next(child for child in body if isinstance(child.tag, str))


def _assert_valid_answer(data: bytes) -> str:
    """Validate the Body content (answer or fault detail); return what it was."""
    child = _body_child(data)
    schema = _xsd("dancu-response.xsd")
    if child.tag == f"{{{SOAP_NS}}}Fault":
        assert child.findtext("faultcode", "").startswith("soapenv:")
        assert child.findtext("faultstring")
        detail = child.find("detail")
        assert detail is not None
        info = detail[0]
        assert schema.validate(info), schema.error_log
        return "fault:" + info.findtext(f"{{{ANSWER_NS}}}MaLoi", "")
    assert schema.validate(child), schema.error_log
    return etree.QName(child).localname


def _operations(mock: PopulationMock) -> list[tuple[str, bytes]]:
    citizen = mock.population.citizens[0]
    birth = citizen.birth_year if citizen.birth_year_only else citizen.birth_date_text
    return [
        (
            "TraCuu",
            _request_xml(
                "TraCuuThongTinCongDan", "037", citizen.id_number, citizen.full_name, birth
            ),
        ),
        (
            "XacThuc",
            _request_xml("XacThucThongTinCongDan", "003", citizen.id_number, "Ai Đó", birth),
        ),
    ]


def test_answers_validate_for_every_operation(mock: PopulationMock) -> None:
    kinds = []
    for _, body in _operations(mock):
        answer = mock.handle(MockRequest("POST", "/ws", headers=_headers(), body=body))
        assert answer.status == 200
        kinds.append(_assert_valid_answer(answer.body))
    assert kinds == ["CongdanCollection", "KetQuaXacThuc"]


FAULT_MODES: list[tuple[dict[str, Any], int, str]] = [
    ({"status": 503}, 503, "fault:999"),
    ({"soap_fault": True}, 500, "fault:999"),
    ({"expired_session": True}, 401, "fault:100"),
    ({"error_rate": 1.0}, 500, "fault:999"),
    ({"latency_ms": 5}, 200, "answer"),
]


@pytest.mark.parametrize(("fault", "status", "kind"), FAULT_MODES)
def test_answers_validate_under_every_fault_mode(
    mock: PopulationMock, fault: dict[str, Any], status: int, kind: str
) -> None:
    for _, body in _operations(mock):
        mock.add_fault(FaultSpec(route="POST /ws", count=1, **fault))
        answer = mock.handle(MockRequest("POST", "/ws", headers=_headers(), body=body))
        assert answer.status == status
        seen = _assert_valid_answer(answer.body)
        assert seen == kind or (kind == "answer" and not seen.startswith("fault"))


@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [
        ({"status": 503}, 503, "temporarily_unavailable"),
        ({"expired_session": True}, 401, "invalid_client"),
    ],
)
def test_token_fault_answers_validate(
    mock: PopulationMock, fault: dict[str, Any], status: int, error: str
) -> None:
    mock.add_fault(FaultSpec(route="POST /token", count=1, **fault))
    answer = mock.handle(
        MockRequest(
            "POST",
            "/token",
            headers={"content-type": "application/x-www-form-urlencoded"},
            body=b"grant_type=client_credentials",
        )
    )
    assert answer.status == status
    body = answer.json_body()
    assert body["error"] == error
    assert (
        schema_errors(
            json_validator("population/token.yaml", "/components/schemas/TokenError"), body
        )
        == []
    )


def test_answer_declares_prefixes_where_deployed_systems_do(mock: PopulationMock) -> None:
    _, body = _operations(mock)[0]
    text = mock.handle(MockRequest("POST", "/ws", headers=_headers(), body=body)).body.decode()
    assert '<soapenv:Body xmlns:dan="http://dancuquocgia.bca">' in text
    assert '<ns1:CongdanCollection xmlns:ns1="http://www.mic.gov.vn/dancu/1.0">' in text
    assert 'Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">' in text
    assert "xmlns:ns1" not in text.split("<ns1:CongdanCollection")[0]
