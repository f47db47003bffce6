"""Portal mock, SOAP binding, in-process: a zeep client built from contracts/portal/ talks to
the mock through ``responses``; every answer validates against portal.xsd; bad requests,
DTDs and external entities get a SOAP Fault and nothing is read from disk.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import zeep
import zeep.exceptions
from lxml import etree

from mocks._testing import portal_dossier, portal_progress
from mocks.framework import (
    FaultSpec,
    MockRequest,
    contracts_dir,
    load_xsd,
    register_responses,
    validate_xml,
)
from mocks.portal.app import PortalMock
from mocks.settings import MockSettings

BASE = "http://ndxp.test/portal"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
PORTAL_NS = "http://dichvucong.gov.vn/dvcqg/1.0"


def xroad_header(service_code: str, member: str = "000.00.00.H26") -> dict[str, Any]:
    return {
        "client": {"xRoadInstance": "VN", "memberClass": "GOV", "memberCode": member,
                   "subsystemCode": "MOTCUA", "objectType": "SUBSYSTEM"},
        "service": {"xRoadInstance": "VN", "memberClass": "GOV", "memberCode": "000.00.00.G22",
                    "subsystemCode": "DVCQG", "serviceCode": service_code,
                    "serviceVersion": "v1", "objectType": "SERVICE"},
        "id": f"msg-{service_code}",
        "userId": "canbo01",
        "issue": "000.00.00.H26-241120-0001",
        "protocolVersion": "4.0",
    }  # fmt: skip


class Soap:
    def __init__(self, mock: PortalMock, session: requests.Session) -> None:
        self.mock = mock
        transport = zeep.transports.Transport(session=session)
        self.client = zeep.Client(
            str(contracts_dir() / "portal" / "portal.wsdl"), transport=transport
        )
        self.service = self.client.create_service(
            "{http://dichvucong.gov.vn/dvcqg/1.0}DVCQGBinding", f"{BASE}/soap"
        )

    def call(self, operation: str, member: str = "000.00.00.H26", **params: Any) -> Any:
        method = getattr(self.service, operation)
        answer = method(
            madonvi="000.00.00.H26", _soapheaders=xroad_header(operation, member), **params
        )
        assert answer.header.id == f"msg-{operation}"  # the X-Road header is echoed
        return answer.body

    def raw(self, body: bytes) -> tuple[int, etree._Element]:
        answer = self.mock.handle(MockRequest("POST", "/soap", body=body))
        return answer.status, etree.fromstring(answer.body)


@pytest.fixture
def soap() -> Iterator[Soap]:
    mock = PortalMock(MockSettings())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        register_responses(rsps, BASE, mock)
        yield Soap(mock, requests.Session())


def body_of(envelope: etree._Element) -> etree._Element:
    return envelope.find(f"{{{SOAP_NS}}}Body")[0]


def test_sync_progress_lookup_round_trip_through_zeep(soap: Soap) -> None:
    record = portal_dossier()
    answer = soap.call("DongBoHoSoMC", isUpdating="False", data=[record])
    assert answer.error_code == "00"
    assert soap.call("CapNhatTienDoHoSoMC", data=[portal_progress()]).error_code == "00"
    found = soap.call("TraCuuHoSo", mahoso=record["MaHoSo"])
    assert found.error_code == "00"
    stored = zeep.helpers.serialize_object(found.result, dict)
    assert stored["MaHoSo"] == record["MaHoSo"] and stored["TrangThaiHoSo"] == "4"
    assert stored["DinhDanhCHS"][0]["SoDinhDanh"] == "001203001234"
    assert stored["DanhSachLePhi"][0]["Gia"] == 0
    assert soap.call("DongBoHoSoMC", isUpdating="False", data=[record]).error_code == "06"
    illegal = soap.call("CapNhatTienDoHoSoMC", data=[portal_progress(status="10")])
    assert illegal.error_code == "07"


def test_sharing_operations_answer_valid_documents(soap: Soap) -> None:
    listing = soap.call("LayDanhSachTTHC")
    assert listing.error_code == "00" and len(listing.result) >= 50
    detail = soap.call("LayThuTuc", maTTHC="1.001193")
    assert detail.result.TENTTHC == "Thủ tục đăng ký khai sinh"
    assert soap.call("LayThuTuc", maTTHC="9.999999").error_code == "08"
    provinces = soap.call("LayDanhMucTinhThanh")
    assert len(provinces.result) == 63
    assert soap.call("TraCuuHoSo", member="000.00.00.H01",
                     mahoso="000.00.00.H26-241120-0001").error_code == "04"  # fmt: skip


@pytest.mark.parametrize(
    "operation",
    ["TraCuuHoSo", "LayDanhSachTTHC", "LayThuTuc", "LayDanhMucTinhThanh", "DongBoHoSoMC",
     "CapNhatTienDoHoSoMC"],
)  # fmt: skip
def test_every_answer_validates_against_the_xsd_and_echoes_the_header(
    soap: Soap, operation: str
) -> None:
    params: dict[str, Any] = {
        "TraCuuHoSo": {"mahoso": "000.00.00.H26-241120-0001"},
        "LayDanhSachTTHC": {},
        "LayThuTuc": {"maTTHC": "2.000815.000.00.00.H26"},
        "LayDanhMucTinhThanh": {},
        "DongBoHoSoMC": {"isUpdating": "False", "data": [portal_dossier()]},
        "CapNhatTienDoHoSoMC": {"data": [portal_progress()]},
    }[operation]
    if operation in ("TraCuuHoSo", "CapNhatTienDoHoSoMC"):
        soap.call("DongBoHoSoMC", isUpdating="False", data=[portal_dossier()])
    envelope = soap.client.create_message(
        soap.service, operation, madonvi="000.00.00.H26",
        _soapheaders=xroad_header(operation), **params,
    )  # fmt: skip
    status, answer = soap.raw(etree.tostring(envelope))
    assert status == 200
    body = etree.fromstring(etree.tostring(body_of(answer)))
    assert validate_xml(body, load_xsd("portal/portal.xsd")) == []
    assert body.findtext(f"{{{PORTAL_NS}}}error_code") == "00"
    echoed = answer.findtext(f"{{{SOAP_NS}}}Header/{{http://x-road.eu/xsd/xroad.xsd}}id")
    assert echoed == f"msg-{operation}"


def _envelope(header: str, body: str) -> bytes:
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd"'
        f' xmlns:id="http://x-road.eu/xsd/identifiers" xmlns:dvc="{PORTAL_NS}">'
        f"<soapenv:Header>{header}</soapenv:Header><soapenv:Body>{body}</soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


def _header(service_code: str = "TraCuuHoSo", version: str = "4.0") -> str:
    return (
        '<xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>VN</id:xRoadInstance>'
        "<id:memberClass>GOV</id:memberClass><id:memberCode>000.00.00.H26</id:memberCode>"
        "<id:subsystemCode>MOTCUA</id:subsystemCode></xrd:client>"
        '<xrd:service id:objectType="SERVICE"><id:xRoadInstance>VN</id:xRoadInstance>'
        "<id:memberClass>GOV</id:memberClass><id:memberCode>000.00.00.G22</id:memberCode>"
        f"<id:subsystemCode>DVCQG</id:subsystemCode><id:serviceCode>{service_code}"
        "</id:serviceCode></xrd:service>"
        f"<xrd:id>1</xrd:id><xrd:protocolVersion>{version}</xrd:protocolVersion>"
    )


LOOKUP = (
    "<dvc:TraCuuHoSo><dvc:madonvi>000.00.00.H26</dvc:madonvi>"
    "<dvc:mahoso>000.00.00.H26-241120-0001</dvc:mahoso></dvc:TraCuuHoSo>"
)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (_envelope(_header(), LOOKUP), None),
        (_envelope("", LOOKUP), "X-Road header"),
        (_envelope(_header(version="3.1"), LOOKUP), "X-Road header invalid"),
        (_envelope(_header("LayThuTuc"), LOOKUP), "serviceCode"),
        (_envelope(_header(), LOOKUP.replace("-0001", "-1")), "portal.xsd"),
        (_envelope(_header(), LOOKUP.replace("<dvc:madonvi>000.00.00.H26</dvc:madonvi>", "")), "portal.xsd"),
        (_envelope(_header(), "<dvc:XoaHoSo/>"), "unknown operation"),
        (_envelope(_header(), LOOKUP + LOOKUP), "exactly one"),
        (b"<a>not soap</a>", "SOAP 1.1 Envelope"),
        (b"<soapenv:Envelope", "well-formed"),
    ],
)  # fmt: skip
def test_bad_soap_requests_get_a_client_fault(soap: Soap, body: bytes, needle: str | None) -> None:
    status, answer = soap.raw(body)
    if needle is None:
        assert status == 200 and body_of(answer).findtext(f"{{{PORTAL_NS}}}error_code") == "00"
        return
    fault = body_of(answer)
    assert status == 500 and fault.tag == f"{{{SOAP_NS}}}Fault"
    assert fault.findtext("faultcode") == "soapenv:Client"
    assert needle in fault.findtext("faultstring")


def test_zeep_sees_client_faults_and_injected_server_faults(soap: Soap) -> None:
    with pytest.raises(zeep.exceptions.Fault, match=r"portal\.xsd"):
        soap.call("LayThuTuc", maTTHC="1.0011930")  # zeep does not validate patterns
    soap.mock.add_fault(FaultSpec(route="POST /soap", soap_fault=True, count=1))
    with pytest.raises(zeep.exceptions.Fault, match="Injected"):
        soap.call("LayDanhMucTinhThanh")
    soap.mock.add_fault(FaultSpec(route="POST /soap", status=503, count=1))
    with pytest.raises(zeep.exceptions.Fault):
        soap.call("LayDanhMucTinhThanh")
    assert soap.call("LayDanhMucTinhThanh").error_code == "00"


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A named pipe: a parser that tried to read it would block (proof of a read)."""
    path = tmp_path / "secret.pipe"
    os.mkfifo(path)
    yield path


@pytest.mark.parametrize(
    "template",
    [
        '<!DOCTYPE e [<!ENTITY x SYSTEM "file://{path}">]>{envelope}',
        '<!DOCTYPE e SYSTEM "file://{path}">{envelope}',
        '<!DOCTYPE e [<!ENTITY % p SYSTEM "file://{path}"> %p;]>{envelope}',
        '<?xml version="1.0"?>\n<!DOCTYPE e [<!ENTITY x SYSTEM "{path}">]>{envelope}',
    ],
)
def test_dtd_and_external_entities_get_a_fault_and_read_nothing(
    soap: Soap, fifo: Path, tmp_path: Path, template: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    for target in (fifo, secret):
        lookup = LOOKUP.replace("000.00.00.H26-241120-0001", "&x;")
        envelope = _envelope(_header(), lookup).decode()
        document = template.format(path=target, envelope=envelope).encode()
        result: dict[str, Any] = {}

        def call(document: bytes = document, result: dict[str, Any] = result) -> None:
            result["answer"] = soap.raw(document)

        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(timeout=3)
        if worker.is_alive():  # the parser opened the pipe: unblock it, then fail
            with open(fifo, "w") as pipe:
                pipe.write("x")
            pytest.fail("the SOAP parser tried to read an external entity")
        status, answer = result["answer"]
        fault = body_of(answer)
        assert status == 500 and fault.tag == f"{{{SOAP_NS}}}Fault"
        assert "DTD" in fault.findtext("faultstring")
        assert b"TOP-SECRET" not in etree.tostring(answer)
        with pytest.raises(OSError):  # nobody holds the pipe open for reading
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


SOAP_PARAMS: dict[str, dict[str, Any]] = {
    "DongBoHoSoMC": {"isUpdating": "False", "data": [portal_dossier()]},
    "CapNhatTienDoHoSoMC": {"data": [portal_progress()]},
    "TraCuuHoSo": {"mahoso": "000.00.00.H26-241120-0001"},
    "LayDanhSachTTHC": {},
    "LayThuTuc": {"maTTHC": "1.001193"},
    "LayDanhMucTinhThanh": {},
}


@pytest.mark.parametrize("kind", ["no header", "wrong service", "body invalid", "bad version"])
@pytest.mark.parametrize("operation", sorted(SOAP_PARAMS))
def test_every_operation_refuses_bad_soap_requests(soap: Soap, operation: str, kind: str) -> None:
    service_code = "TraCuuHoSo" if kind == "wrong service" and operation != "TraCuuHoSo" else (
        "LayThuTuc" if kind == "wrong service" else operation
    )  # fmt: skip
    envelope = soap.client.create_message(
        soap.service, operation, madonvi="000.00.00.H26",
        _soapheaders=xroad_header(service_code), **SOAP_PARAMS[operation],
    )  # fmt: skip
    header = envelope.find(f"{{{SOAP_NS}}}Header")
    if kind == "no header":
        envelope.remove(header)
    elif kind == "bad version":
        header.find("{http://x-road.eu/xsd/xroad.xsd}protocolVersion").text = "3.0"
    elif kind == "body invalid":
        body = body_of(envelope)
        body.remove(body.find(f"{{{PORTAL_NS}}}madonvi"))
    status, answer = soap.raw(etree.tostring(envelope))
    fault = body_of(answer)
    assert status == 500 and fault.tag == f"{{{SOAP_NS}}}Fault"
    assert fault.findtext("faultcode") == "soapenv:Client"
    assert soap.mock.state()["dossiers"] == {}
