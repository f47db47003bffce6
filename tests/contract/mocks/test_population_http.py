"""A zeep client built from contracts/population/ gets a citizen back from the mock over
real HTTP (uvicorn on a free port, the mocks' server app), with both authentications."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import uvicorn
import zeep.exceptions
from zeep import Client, Settings
from zeep.transports import Transport

from mocks.population.app import PopulationMock, create_mock
from mocks.population.auth import basic_authorization
from mocks.server import build_app
from mocks.settings import MockSettings

WSDL = Path(__file__).resolve().parents[3] / "contracts" / "population" / "dancu.wsdl"
BINDING = "{http://dancuquocgia.bca/wsdl}DanCuSoapBinding"
SECRET = "demo-population-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, PopulationMock]]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    mock = create_mock(MockSettings(public_url=base))
    app = build_app(MockSettings(public_url=base), mocks={"population": mock})
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield base, mock
    uv.should_exit = True
    thread.join(timeout=5)


class DirectCallAuth(requests.auth.AuthBase):
    """The X-Road style digest over the URL actually posted to."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        stamp = str(int(time.time() * 1000))
        request.headers["Timestamp"] = stamp
        request.headers["Authorization"] = basic_authorization(
            request.url or "", "demo", stamp, SECRET
        )
        request.headers["X-Road-Client"] = "VN/GOV/000.00.00.H26/TTHC"
        return request


def _service(session: requests.Session, base: str) -> zeep.proxy.ServiceProxy:
    settings = Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    client = Client(str(WSDL), transport=Transport(session=session, timeout=5), settings=settings)
    return client.create_service(BINDING, f"{base}/population/ws")


def _lookup(service: zeep.proxy.ServiceProxy, mock: PopulationMock, index: int = 0) -> object:
    citizen = mock.population.citizens[index]
    birth = (
        {"Nam": citizen.birth_year}
        if citizen.birth_year_only
        else {"NgayThangNam": citizen.birth_date_text}
    )
    return service.TraCuuThongTinCongDan(
        MaYeuCau=f"http-{index}",
        MaDVC="2.000815.01",
        MaTichHop="037",
        MaCanBo="cb001",
        SoDinhDanh=citizen.id_number,
        HoVaTen=citizen.full_name,
        NgayThangNamSinh=birth,
    )


def test_zeep_client_gets_a_citizen_over_http_with_direct_auth(
    server: tuple[str, PopulationMock],
) -> None:
    base, mock = server
    session = requests.Session()
    session.auth = DirectCallAuth()
    result = _lookup(_service(session, base), mock, 5)
    citizen = mock.population.citizens[5]
    assert len(result) == 1
    assert result[0].SoDinhDanh == citizen.id_number
    assert result[0].HoVaTen.Ten == citizen.given_name.upper()
    assert result[0].ThuongTru.MaTinhThanh == "01"


def test_zeep_client_with_lgsp_bearer_token(server: tuple[str, PopulationMock]) -> None:
    base, mock = server
    answer = requests.post(
        f"{base}/population/token",
        data={"grant_type": "client_credentials"},
        auth=("demo", SECRET),
        timeout=5,
    )
    assert answer.status_code == 200
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    result = _lookup(_service(session, base), mock, 7)
    assert result[0].SoDinhDanh == mock.population.citizens[7].id_number


def test_zeep_sees_an_authentication_fault(server: tuple[str, PopulationMock]) -> None:
    base, mock = server
    with pytest.raises(zeep.exceptions.Fault) as caught:
        _lookup(_service(requests.Session(), base), mock)
    assert caught.value.code == "soapenv:Client.Authentication"


def test_wsdl_fetched_from_the_mock_works_in_zeep(server: tuple[str, PopulationMock]) -> None:
    base, _ = server
    session = requests.Session()
    session.auth = DirectCallAuth()
    client = Client(f"{base}/population/ws?wsdl", transport=Transport(session=session, timeout=5))
    result = client.service.TraCuuThongTinCongDan(
        MaYeuCau="wsdl-1",
        MaDVC="2.000815.01",
        MaTichHop="037",
        MaCanBo="cb001",
        SoDinhDanh="001099999999",
        HoVaTen="Không Có Ai",
        NgayThangNamSinh={"Nam": "1990"},
    )
    assert result == []  # no match: an empty collection, not a fault
