"""Portal mock over real HTTP (uvicorn on a free port): REST, SOAP through zeep, control API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import zeep
import zeep.exceptions

from mocks._testing import LiveMocks, portal_dossier, portal_progress
from mocks.framework import contracts_dir, json_validator, schema_errors

AGENCY = "000.00.00.H26"


@pytest.fixture
def portal_url(live_mocks: LiveMocks) -> Iterator[str]:
    url = f"{live_mocks.base_url}/portal"
    requests.post(f"{url}/_mock/reset", timeout=5).raise_for_status()
    yield url


def login(url: str) -> str:
    body = {"username": "demo", "password": "demo-portal-password"}
    answer = requests.post(f"{url}/rest/login", json=body, timeout=5).json()
    assert answer["error_code"] == 0
    session: str = answer["session"]
    return session


def integration(url: str, session: str, service: str, **params: Any) -> dict[str, Any]:
    body = {"session": session, "madonvi": AGENCY, "service": service, **params}
    answer = requests.post(f"{url}/rest/integration", json=body, timeout=5)
    assert answer.status_code == 200
    data: dict[str, Any] = answer.json()
    validator = json_validator("portal/openapi.yaml", "/components/schemas/IntegrationAnswer")
    assert schema_errors(validator, data) == []
    return data


def test_rest_sync_progress_and_lookup_over_http(portal_url: str) -> None:
    session = login(portal_url)
    record = portal_dossier()
    assert integration(portal_url, session, "DongBoHoSoMC", isUpdating="False",
                       data=[record])["error_code"] == "00"  # fmt: skip
    progress = integration(portal_url, session, "CapNhatTienDoHoSoMC", data=[portal_progress()])
    assert progress["error_code"] == "00"
    found = integration(portal_url, session, "TraCuuHoSo", mahoso=record["MaHoSo"])
    assert found["result"][0]["TrangThaiHoSo"] == "4"
    state = requests.get(f"{portal_url}/_mock/state", timeout=5).json()
    assert list(state["dossiers"]) == [record["MaHoSo"]]
    recorded = requests.get(f"{portal_url}/_mock/requests", timeout=5).json()["requests"]
    assert [r["path"] for r in recorded][-1] == "/rest/integration"


def test_faults_over_http(portal_url: str) -> None:
    session = login(portal_url)
    fault = {"route": "POST /rest/integration", "expired_session": True, "count": 1}
    assert requests.post(f"{portal_url}/_mock/faults", json=fault, timeout=5).status_code == 200
    assert integration(portal_url, session, "TraCuuHoSo",
                       mahoso="000.00.00.H26-241120-0001")["error_code"] == "01"  # fmt: skip
    session = login(portal_url)
    fault = {"route": "POST /rest/integration", "timeout": True, "count": 1}
    requests.post(f"{portal_url}/_mock/faults", json=fault, timeout=5).raise_for_status()
    body = {"session": session, "madonvi": AGENCY, "service": "TraCuuHoSo",
            "mahoso": "000.00.00.H26-241120-0001"}  # fmt: skip
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{portal_url}/rest/integration", json=body, timeout=0.3)
    fault = {"route": "POST /rest/integration", "status": 503, "count": 1}
    requests.post(f"{portal_url}/_mock/faults", json=fault, timeout=5).raise_for_status()
    answer = requests.post(f"{portal_url}/rest/integration", json=body, timeout=5)
    assert answer.status_code == 503 and answer.json()["error_code"] == "99"
    bad = requests.post(f"{portal_url}/_mock/faults", json={"status": "x"}, timeout=5)
    assert bad.status_code == 400 and "status" in bad.json()["error"]


def test_zeep_client_from_the_contract_over_http(portal_url: str) -> None:
    client = zeep.Client(str(contracts_dir() / "portal" / "portal.wsdl"))
    service = client.create_service(
        "{http://dichvucong.gov.vn/dvcqg/1.0}DVCQGBinding", f"{portal_url}/soap"
    )
    header = {
        "client": {"xRoadInstance": "VN", "memberClass": "GOV", "memberCode": AGENCY,
                   "subsystemCode": "MOTCUA", "objectType": "SUBSYSTEM"},
        "service": {"xRoadInstance": "VN", "memberClass": "GOV", "memberCode": "000.00.00.G22",
                    "subsystemCode": "DVCQG", "serviceCode": "LayThuTuc", "objectType": "SERVICE"},
        "id": "http-1", "protocolVersion": "4.0",
    }  # fmt: skip
    answer = service.LayThuTuc(madonvi=AGENCY, maTTHC="1.001193", _soapheaders=header)
    assert answer.body.error_code == "00"
    assert answer.body.result.LINHVUCTHUCHIEN[0].TENLINHVUC == "Hộ tịch"
    with pytest.raises(zeep.exceptions.Fault, match="serviceCode"):
        service.TraCuuHoSo(madonvi=AGENCY, mahoso="000.00.00.H26-241120-0001", _soapheaders=header)


def test_xxe_over_http_gets_a_fault(portal_url: str, tmp_path: Any) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    document = (
        f'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        "<soapenv:Body><x>&x;</x></soapenv:Body></soapenv:Envelope>"
    )
    answer = requests.post(f"{portal_url}/soap", data=document.encode(), timeout=5,
                           headers={"Content-Type": "text/xml"})  # fmt: skip
    assert answer.status_code == 500
    assert b"<faultcode>soapenv:Client</faultcode>" in answer.content
    assert b"TOP-SECRET" not in answer.content
