"""The city mock over real HTTP, fetching the gateway's JWKS over HTTP too: a stand-in
gateway publishes ``/.well-known/jwks.json`` on one free port, the mocks' server app runs
on another; an event is delivered twice and recorded once."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from joserfc import jws
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mocks.city.app import create_mock
from mocks.server import build_app
from mocks.settings import MockSettings
from mocks.warehouse.app import create_mock as create_warehouse

REGISTRY = JWSRegistry(
    header_registry={
        n: HeaderParameter(n, k, True)
        for n, k in (("iat", "int"), ("mid", "str"), ("mty", "str"), ("aud", "str"))
    },
    algorithms=["ES256"],
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[str, ECKey, list[int]]]:
    key = ECKey.generate_key("P-256")
    public = {**key.as_dict(private=False), "kid": "gw-1", "use": "sig", "alg": "ES256"}
    served: list[int] = []

    async def jwks(request: Request) -> JSONResponse:
        served.append(1)
        return JSONResponse({"keys": [public]})

    gateway_url, gateway, gateway_thread = _serve(
        Starlette(routes=[Route("/.well-known/jwks.json", jwks)])
    )
    settings = MockSettings(gateway_url=gateway_url)
    mocks_url, mocks, mocks_thread = _serve(
        build_app(
            settings, mocks={"city": create_mock(settings), "warehouse": create_warehouse(settings)}
        )
    )
    yield mocks_url, key, served
    for server, thread in ((mocks, mocks_thread), (gateway, gateway_thread)):
        server.should_exit = True
        thread.join(timeout=5)


def test_event_delivered_twice_over_http_is_recorded_once(
    stack: tuple[str, ECKey, list[int]],
) -> None:
    base, key, served = stack
    body = json.dumps(
        {
            "event": "city.dossier.status_changed",
            "status": {"MaHoSo": "000.00.00.H26-241120-0001", "TrangThaiHoSo": "2"},
        }
    ).encode()
    message_id = str(uuid.uuid4())
    header = {
        "alg": "ES256",
        "kid": "gw-1",
        "iat": int(time.time()),
        "mid": message_id,
        "mty": "city.dossier.status_changed",
        "aud": "city",
    }
    protected, _, signature = jws.serialize_compact(
        header, body, key, algorithms=["ES256"], registry=REGISTRY
    ).split(".")
    headers = {
        "Content-Type": "application/json",
        "X-Message-Id": message_id,
        "X-Message-Type": "city.dossier.status_changed",
        "X-Correlation-ID": "corr-http",
        "X-JWS": f"{protected}..{signature}",
    }
    first = httpx.post(f"{base}/city/events", content=body, headers=headers, timeout=5)
    second = httpx.post(f"{base}/city/events", content=body, headers=headers, timeout=5)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["status"] == "duplicate"
    assert len(served) == 1  # fetched once, then cached
    state = httpx.get(f"{base}/city/_mock/state", timeout=5).json()
    assert state["deliveries"][message_id] == 2 and state["kids"] == ["gw-1"]
    tampered = httpx.post(
        f"{base}/city/events", content=body.replace(b'"2"', b'"4"'), headers=headers, timeout=5
    )
    assert tampered.status_code == 401
    assert tampered.headers["content-type"] == "application/problem+json"


def test_warehouse_answers_over_http(stack: tuple[str, ECKey, list[int]]) -> None:
    base, _, _ = stack
    document = httpx.get(f"{base}/warehouse/_mock/state", timeout=5).json()["documents"][0]
    answer = httpx.post(
        f"{base}/warehouse/GetGiayToByUrl",
        json={
            "CoQuanChuQuan": document["CoQuanChuQuan"],
            "DuongDan": document["DanhSachTepDinhKem"][0]["DuongDan"],
        },
        timeout=5,
    )
    assert answer.status_code == 200 and isinstance(answer.json(), str)
