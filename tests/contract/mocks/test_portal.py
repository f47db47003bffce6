"""Portal mock, REST binding, in-process: sessions, store, status rules, catalogue, faults.

Every answer is validated against contracts/portal/openapi.yaml.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
import requests
import responses
from lxml import etree

from mocks._testing import portal_dossier, portal_progress
from mocks.framework import (
    FaultSpec,
    MockRequest,
    json_validator,
    register_responses,
    schema_errors,
)
from mocks.portal.app import PortalMock
from mocks.settings import MockSettings

CONTRACT = "portal/openapi.yaml"
AGENCY = "000.00.00.H26"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Portal:
    """A portal mock and a logged-in caller, every answer checked against the contract."""

    def __init__(self, ttl: float = 1800.0) -> None:
        self.clock = Clock()
        self.mock = PortalMock(MockSettings(portal_session_ttl_seconds=ttl), clock=self.clock)
        self.session = self.login()["session"]

    def post(self, path: str, body: Any, schema: str) -> dict[str, Any]:
        raw = body if isinstance(body, bytes) else requests.models.complexjson.dumps(body).encode()
        answer = self.mock.handle(MockRequest("POST", path, body=raw))
        data: dict[str, Any] = answer.json_body()
        assert schema_errors(json_validator(CONTRACT, f"/components/schemas/{schema}"), data) == []
        return data

    def login(self, username: str = "demo", password: str = "demo-portal-password") -> Any:
        body = {"username": username, "password": password}
        return self.post("/rest/login", body, "LoginAnswer")

    def call(self, service: str, **params: Any) -> dict[str, Any]:
        body = {"session": self.session, "madonvi": AGENCY, "service": service, **params}
        path = "/rest/integration" if service in INTEGRATION else "/rest/sharing"
        schema = "IntegrationAnswer" if path == "/rest/integration" else "SharingAnswer"
        return self.post(path, body, schema)

    def sync(self, *records: dict[str, Any], updating: bool = False) -> dict[str, Any]:
        return self.call("DongBoHoSoMC", isUpdating=str(updating), data=list(records))


INTEGRATION = {"DongBoHoSoMC", "CapNhatTienDoHoSoMC", "TraCuuHoSo"}


@pytest.fixture
def portal() -> Portal:
    return Portal()


def test_login_answers_a_session_or_its_error_codes(portal: Portal) -> None:
    assert portal.login()["error_code"] == 0
    assert portal.login(password="wrong")["error_code"] == 1
    assert portal.post("/rest/login", {"username": "demo"}, "LoginAnswer")["error_code"] == 2
    answer = portal.mock.handle(MockRequest("POST", "/rest/login", body=b"not json"))
    assert answer.status == 400 and answer.json_body()["error_code"] == 2


def test_sessions_expire_and_unknown_sessions_are_refused() -> None:
    portal = Portal(ttl=60)
    assert portal.call("TraCuuHoSo", mahoso="000.00.00.H26-241120-0001")["error_code"] == "00"
    portal.clock.now += 61
    assert portal.call("TraCuuHoSo", mahoso="000.00.00.H26-241120-0001")["error_code"] == "01"
    portal.session = "not-a-session"
    assert portal.call("LayDanhMucTinhThanh")["error_code"] == "01"
    portal.session = portal.login()["session"]
    assert portal.call("LayDanhMucTinhThanh")["error_code"] == "00"


def test_sync_then_lookup_returns_the_stored_record(portal: Portal) -> None:
    record = portal_dossier()
    assert portal.sync(record)["error_code"] == "00"
    found = portal.call("TraCuuHoSo", mahoso=record["MaHoSo"])
    assert found["error_code"] == "00" and found["result"] == [record]
    missing = portal.call("TraCuuHoSo", mahoso="000.00.00.H26-241120-0099")
    assert missing == {"error_code": "00", "message": missing["message"], "result": []}
    assert record["MaHoSo"] in portal.mock.state()["dossiers"]


def test_is_updating_must_agree_with_the_store(portal: Portal) -> None:
    record = portal_dossier()
    assert portal.sync(record, updating=True)["error_code"] == "05"
    assert portal.sync(record)["error_code"] == "00"
    assert portal.sync(record)["error_code"] == "06"
    assert portal.sync(record, updating=True)["error_code"] == "00"


@pytest.mark.parametrize(
    ("path", "legal"),
    [
        (["1", "2", "4", "5", "4", "6", "9", "10"], True),
        (["1", "3"], True),
        (["4", "8"], True),
        (["5", "7"], True),
        (["2", "9"], False),
        (["1", "4"], False),
        (["3", "2"], False),
        (["10", "9"], False),
        (["7", "4"], False),
        (["6", "5"], False),
    ],
)
def test_status_transitions_follow_the_one_stop_process(
    portal: Portal, path: list[str], legal: bool
) -> None:
    assert portal.sync(portal_dossier(status=path[0]))["error_code"] == "00"
    codes = [portal.sync(portal_dossier(status=s), updating=True)["error_code"] for s in path[1:]]
    assert codes[:-1] == ["00"] * (len(codes) - 1)
    assert codes[-1] == ("00" if legal else "07")
    stored = portal.mock.state()["dossiers"]["000.00.00.H26-241120-0001"]["TrangThaiHoSo"]
    assert stored == (path[-1] if legal else path[-2])


def test_a_batch_is_all_or_nothing(portal: Portal) -> None:
    good = portal_dossier("000.00.00.H26-241120-0002")
    assert portal.sync(portal_dossier(), good)["error_code"] == "00"
    answer = portal.sync(
        portal_dossier(status="4"), portal_dossier("000.00.00.H26-241120-0002", status="9"),
        updating=True,
    )  # fmt: skip
    assert answer["error_code"] == "07" and "data[1]" in answer["message"]
    assert portal.mock.state()["dossiers"]["000.00.00.H26-241120-0001"]["TrangThaiHoSo"] == "2"
    twice = portal.sync(
        portal_dossier("000.00.00.H26-241120-0003"), portal_dossier("000.00.00.H26-241120-0003")
    )
    assert twice["error_code"] == "02"


def test_progress_moves_the_status_and_is_recorded(portal: Portal) -> None:
    portal.sync(portal_dossier())
    answer = portal.call("CapNhatTienDoHoSoMC", data=[portal_progress(status="4")])
    assert answer["error_code"] == "00"
    state = portal.mock.state()
    assert state["dossiers"]["000.00.00.H26-241120-0001"]["TrangThaiHoSo"] == "4"
    assert len(state["progress"]["000.00.00.H26-241120-0001"]) == 1
    illegal = portal.call("CapNhatTienDoHoSoMC", data=[portal_progress(status="10")])
    assert illegal["error_code"] == "07"
    unknown = portal.call(
        "CapNhatTienDoHoSoMC", data=[portal_progress("000.00.00.H26-241120-0042")]
    )
    assert unknown["error_code"] == "05"


def _without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


@pytest.mark.parametrize(
    ("service", "params", "code", "needle"),
    [
        ("DongBoHoSoMC", {"isUpdating": "False", "data": [_without(portal_dossier(), "MaTTHC")]}, "02", "MaTTHC"),
        ("DongBoHoSoMC", {"isUpdating": "False", "data": [portal_dossier("H26-1")]}, "02", "MaHoSo"),
        ("DongBoHoSoMC", {"isUpdating": "False", "data": [portal_dossier(status="0")]}, "02", "TrangThaiHoSo"),
        ("DongBoHoSoMC", {"isUpdating": "yes", "data": [portal_dossier()]}, "02", "isUpdating"),
        ("DongBoHoSoMC", {"isUpdating": "False", "data": []}, "02", "data"),
        ("DongBoHoSoMC", {"isUpdating": "False", "data": [portal_dossier(Fax="1")]}, "02", "Fax"),
        ("CapNhatTienDoHoSoMC", {"data": [_without(portal_progress(), "NguoiXuLy")]}, "02", "NguoiXuLy"),
        ("CapNhatTienDoHoSoMC", {"data": [{**portal_progress(), "ThoiDiemXuLy": "2024"}]}, "02", "ThoiDiemXuLy"),
        ("CapNhatTienDoHoSoMC", {"data": [{**portal_progress(), "TrangThai": 4}]}, "02", "TrangThai"),
        ("TraCuuHoSo", {}, "02", "mahoso"),
        ("TraCuuHoSo", {"mahoso": "000.00.00.H26-241199-0001"}, "02", "mahoso"),
        ("TraCuuHoSo", {"mahoso": "000.00.00.H26-241120-0001", "extra": 1}, "02", "extra"),
        ("LayThuTuc", {"maTTHC": "1.00119"}, "02", "maTTHC"),
        ("LayThuTuc", {}, "02", "maTTHC"),
        ("LayThuTuc", {"maTTHC": "9.999999"}, "08", "9.999999"),
        ("LayDanhSachTTHC", {"mucDo": "toàn bộ"}, "02", "mucDo"),
        ("LayDanhSachTTHC", {"maLinhVuc": "a b"}, "02", "maLinhVuc"),
        ("LayDanhMucTinhThanh", {"extra": True}, "02", "extra"),
    ],
)  # fmt: skip
def test_bad_requests_get_the_portals_error_codes(
    portal: Portal, service: str, params: dict[str, Any], code: str, needle: str
) -> None:
    answer = portal.call(service, **params)
    assert answer["error_code"] == code
    assert needle in answer["message"]


def test_unknown_service_wrong_agency_and_non_object_bodies(portal: Portal) -> None:
    assert portal.call("XoaHoSo")["error_code"] == "03"
    body = {"session": portal.session, "madonvi": "000.00.00.H01", "service": "TraCuuHoSo",
            "mahoso": "000.00.00.H26-241120-0001"}  # fmt: skip
    assert portal.post("/rest/integration", body, "IntegrationAnswer")["error_code"] == "04"
    assert portal.post("/rest/sharing", [1, 2], "SharingAnswer")["error_code"] == "02"
    answer = portal.mock.handle(MockRequest("POST", "/rest/integration", body=b"{"))
    assert answer.status == 400 and answer.json_body()["error_code"] == "02"
    assert (
        portal.post("/rest/sharing", {**body, "service": "TraCuuHoSo"}, "SharingAnswer")[
            "error_code"
        ]
        == "03"
    )


def test_catalogue_has_at_least_50_valid_procedures(portal: Portal) -> None:
    listing = portal.call("LayDanhSachTTHC")["result"]
    assert len(listing) >= 50
    assert {item["MUCDO"] for item in listing} == {"toàn trình", "một phần"}
    procedure_schema = json_validator(CONTRACT, "/components/schemas/Procedure")
    for item in listing:
        detail = portal.call("LayThuTuc", maTTHC=item["MATTHC"])["result"]
        assert schema_errors(procedure_schema, detail) == []
        assert detail["TENTTHC"] == item["TENTTHC"]
    fully = portal.call("LayDanhSachTTHC", mucDo="toàn trình")["result"]
    assert 0 < len(fully) < len(listing)
    local = portal.call("LayThuTuc", maTTHC="2.000815.000.00.00.H26")["result"]
    assert local["MATTHC"] == "2.000815"
    provinces = portal.call("LayDanhMucTinhThanh")["result"]
    assert {"MATINH": "01", "TENTINH": "Thành phố Hà Nội"} in provinces
    assert len(provinces) == 63
    assert portal.call("LayDanhMucCoQuan")["result"]
    assert any(fee["MUCPHI"] > 0 for fee in portal.call("LayDanhMucLePhi")["result"])


def test_expired_session_fault_drops_the_session(portal: Portal) -> None:
    portal.mock.add_fault(FaultSpec(route="POST /rest/sharing", expired_session=True, count=1))
    assert portal.call("LayDanhMucTinhThanh")["error_code"] == "01"
    assert portal.call("LayDanhMucTinhThanh")["error_code"] == "01"  # session is gone
    portal.session = portal.login()["session"]
    assert portal.call("LayDanhMucTinhThanh")["error_code"] == "00"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_status_faults_answer_in_the_portals_error_form(portal: Portal, status: int) -> None:
    portal.mock.add_fault(FaultSpec(status=status, count=1))
    body = {"session": portal.session, "madonvi": AGENCY, "service": "LayDanhMucTinhThanh"}
    raw = requests.models.complexjson.dumps(body).encode()
    answer = portal.mock.handle(MockRequest("POST", "/rest/sharing", body=raw))
    assert answer.status == status
    validator = json_validator(CONTRACT, "/components/schemas/ErrorAnswer")
    assert schema_errors(validator, answer.json_body()) == []
    error_only = FaultSpec(error_rate=1.0, count=1)
    portal.mock.add_fault(error_only)
    answer = portal.mock.handle(MockRequest("POST", "/rest/sharing", body=raw))
    assert answer.status == 500 and schema_errors(validator, answer.json_body()) == []


def test_requests_client_in_process_with_responses() -> None:
    mock = PortalMock(MockSettings())
    base = "http://dvcqg.test/portal"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        register_responses(rsps, base, mock)
        login = requests.post(f"{base}/rest/login", json={"username": "demo",
                              "password": "demo-portal-password"}, timeout=5).json()  # fmt: skip
        body = {"session": login["session"], "madonvi": AGENCY, "service": "DongBoHoSoMC",
                "isUpdating": "False", "data": [portal_dossier()]}  # fmt: skip
        assert (
            requests.post(f"{base}/rest/integration", json=body, timeout=5).json()["error_code"]
            == "00"
        )
        mock.add_fault(FaultSpec(route="POST /rest/integration", malformed=True, count=1))
        with pytest.raises(requests.exceptions.JSONDecodeError):
            requests.post(f"{base}/rest/integration", json=body, timeout=5).json()
        mock.add_fault(FaultSpec(route="POST /rest/integration", timeout=True, count=1))
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.post(f"{base}/rest/integration", json=body, timeout=5)
    assert [r["path"] for r in mock.recorded] == ["/rest/login"] + ["/rest/integration"] * 3


FAULT_MODES = [
    {"status": 503},
    {"error_rate": 1.0},
    {"expired_session": True},
    {"latency_ms": 1},
    {"oversized_bytes": 20_000},
]
ROUTES = {
    "/rest/login": ("LoginAnswer", {"username": "demo", "password": "demo-portal-password"}),
    "/rest/integration": ("IntegrationAnswer", {"service": "TraCuuHoSo",
                                                "mahoso": "000.00.00.H26-241120-0001"}),
    "/rest/sharing": ("SharingAnswer", {"service": "LayThuTuc", "maTTHC": "1.001193"}),
}  # fmt: skip


@pytest.mark.parametrize("mode", FAULT_MODES, ids=lambda mode: next(iter(mode)))
@pytest.mark.parametrize("path", sorted(ROUTES))
def test_answers_under_every_fault_mode_follow_the_contract(
    portal: Portal, path: str, mode: dict[str, Any]
) -> None:
    schema, params = ROUTES[path]
    body = params if path == "/rest/login" else {"session": portal.session, "madonvi": AGENCY,
                                                 **params}  # fmt: skip
    portal.mock.add_fault(FaultSpec(route=f"POST {path}", count=1, **mode))
    raw = requests.models.complexjson.dumps(body).encode()
    answer = portal.mock.handle(MockRequest("POST", path, body=raw))
    assert answer.delay_ms == mode.get("latency_ms", 0)
    if "oversized_bytes" in mode:
        assert len(answer.body) >= mode["oversized_bytes"]
    data = answer.json_body()
    assert schema_errors(json_validator(CONTRACT, f"/components/schemas/{schema}"), data) == []
    assert answer.status == mode.get("status", 500 if "error_rate" in mode else 200) or (
        path == "/rest/login" and "expired_session" in mode and answer.status == 500
    )


@pytest.mark.parametrize(
    "mode", [{"soap_fault": True}, {"status": 502}, {"expired_session": True}, {"error_rate": 1.0}]
)
def test_soap_route_faults_are_soap_faults(portal: Portal, mode: dict[str, Any]) -> None:

    portal.mock.add_fault(FaultSpec(route="POST /soap", count=1, **mode))
    answer = portal.mock.handle(MockRequest("POST", "/soap", body=b"<x/>"))
    assert answer.status == mode.get("status", 500)
    envelope = etree.fromstring(answer.body)
    fault = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body/"
                          "{http://schemas.xmlsoap.org/soap/envelope/}Fault")  # fmt: skip
    assert fault is not None and fault.findtext("faultstring")


def test_push_of_an_online_dossier_is_signed_and_stored() -> None:

    received: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(202, json={"messageId": "m-1", "status": "accepted"})

    settings = MockSettings(gateway_url="http://gateway.test")
    mock = PortalMock(settings, http=httpx.Client(transport=httpx.MockTransport(gateway)))
    answer = mock.handle(
        MockRequest("POST", "/_mock/push", body='{"ChuHoSo": "Đỗ Văn Bình"}'.encode())
    )
    assert answer.status == 200 and answer.json_body()["http_status"] == 202
    (request,) = received
    assert request.url.path == "/v1/callbacks/portal/dossiers"
    timestamp, nonce = request.headers["x-portal-timestamp"], request.headers["x-portal-nonce"]
    expected = hmac.new(b"demo-portal-callback-secret",
                        f"{timestamp}.{nonce}.".encode() + request.content,
                        hashlib.sha256).hexdigest()  # fmt: skip
    assert request.headers["x-portal-signature"] == expected
    record = json.loads(request.content)
    assert (record["TrangThaiHoSo"], record["KenhThucHien"]) == ("1", "2")
    validator = json_validator("portal/schemas/dossier-record.schema.json")
    assert schema_errors(validator, record) == [] and record["ChuHoSo"] == "Đỗ Văn Bình"
    assert record["MaHoSo"] in mock.state()["dossiers"]
    second = mock.handle(MockRequest("POST", "/_mock/push")).json_body()
    assert second["record"]["MaHoSo"] != record["MaHoSo"] and len(received) == 2
    bad = mock.handle(MockRequest("POST", "/_mock/push", body=b'{"TrangThaiHoSo": "11"}'))
    assert bad.status == 400 and "TrangThaiHoSo" in bad.json_body()["error"]
    assert mock.handle(MockRequest("POST", "/_mock/push", body=b"[1]")).status == 400
    assert len(received) == 2


ALL_SERVICES = {
    "DongBoHoSoMC": {"isUpdating": "False", "data": [portal_dossier()]},
    "CapNhatTienDoHoSoMC": {"data": [portal_progress()]},
    "TraCuuHoSo": {"mahoso": "000.00.00.H26-241120-0001"},
    "LayDanhSachTTHC": {},
    "LayThuTuc": {"maTTHC": "1.001193"},
    "LayDanhMucTinhThanh": {},
    "LayDanhMucCoQuan": {},
    "LayDanhMucLePhi": {},
}
BAD_KINDS = {
    "unknown session": ({"session": "nope"}, "01"),
    "madonvi pattern": ({"madonvi": "H26"}, "02"),
    "madonvi missing": ({"madonvi": None}, "02"),
    "extra field": ({"ghichu": "x"}, "02"),
    "other agency": ({"madonvi": "000.00.00.H01"}, "04"),
}


@pytest.mark.parametrize("kind", sorted(BAD_KINDS))
@pytest.mark.parametrize("service", sorted(ALL_SERVICES))
def test_every_service_refuses_each_kind_of_bad_request(
    portal: Portal, service: str, kind: str
) -> None:
    changes, code = BAD_KINDS[kind]
    body: dict[str, Any] = {"session": portal.session, "madonvi": AGENCY, "service": service,
                            **ALL_SERVICES[service], **changes}  # fmt: skip
    body = {key: value for key, value in body.items() if value is not None}
    path = "/rest/integration" if service in INTEGRATION else "/rest/sharing"
    schema = "IntegrationAnswer" if service in INTEGRATION else "SharingAnswer"
    answer = portal.post(path, body, schema)
    assert answer["error_code"] == code, answer["message"]
    assert portal.mock.state()["dossiers"] == {}
