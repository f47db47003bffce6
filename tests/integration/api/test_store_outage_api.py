"""The API on PostgreSQL while the database goes away (a proxy cut): 503 with Retry-After,
never 500; /readyz reports the database down; both recover without a restart.

The gateway is the real one (demo configuration, flows, store on PostgreSQL through the
proxy, embedded queue); no partner is called by ``POST /v1/dossiers`` (it is queued).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.api.app import create_app
from gateway.bootstrap import Gateway, build
from gateway.config import load_settings
from gateway.demo import _spec_examples
from tests.conftest import fresh_schema
from tests.integration.faults import TcpProxy

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CITY = {"X-API-Key": "demo-city-key", "Content-Type": "application/json"}
LEAKS = ("127.0.0.1", "postgres", "Connection refused", "psycopg", "Traceback", "5432")


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    with TcpProxy() as running:
        yield running


@pytest.fixture
def gateway(postgres_url: str, proxy: TcpProxy, tmp_path: Path) -> Iterator[Gateway]:
    with fresh_schema(postgres_url, prefix="tthc_outage") as url:
        environ = {
            "TTHC_VAR_DIR": str(tmp_path),
            "TTHC_KEYS__DIRECTORY": str(tmp_path / "keys"),
            "TTHC_DATABASE__URL": proxy.url(url),
        }
        built = build(load_settings(REPO / "config", environ=environ), migrate=False)
        yield built
        proxy.restore()
        built.close()


@pytest.fixture
def client(gateway: Gateway) -> Iterator[TestClient]:
    app = create_app(gateway.api_services(), validate_responses=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def dossier(number: int) -> bytes:
    record: dict[str, Any] = dict(_spec_examples()["dossier"])
    record.update(MaHoSo=f"000.00.00.H26-261127-{number:05d}", TrangThaiHoSo="2")
    return json.dumps(record).encode()


def post(client: TestClient, number: int, key: str | None = None) -> Any:
    headers = dict(CITY)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/v1/dossiers", content=dossier(number), headers=headers)


def assert_store_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= 10
    problem = response.json()
    assert problem["code"] == "store_unavailable"
    assert "store" in problem["detail"] and "unavailable" in problem["detail"]
    for leak in LEAKS:
        assert leak not in response.text, leak


def readiness(client: TestClient) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    checks = {check["name"]: check for check in response.json()["checks"]}
    return response.status_code, checks["database"]


def wait_ready(client: TestClient, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        _, database = readiness(client)
        if database["ok"] or time.monotonic() > deadline:
            return database
        time.sleep(0.3)


def test_posts_answer_503_with_retry_after_while_cut_and_202_after_restore(
    client: TestClient, gateway: Gateway, proxy: TcpProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    assert post(client, 1).status_code == 202
    assert wait_ready(client)["ok"]
    proxy.cut()
    try:
        for number in range(2, 8):  # the pool's connections were killed, new ones refused
            assert_store_unavailable(post(client, number))
        assert_store_unavailable(post(client, 8, key="outage-key-00000001"))
        time.sleep(2.1)  # past the readiness cache
        status, database = readiness(client)
        assert status == 503
        assert database["ok"] is False
        assert database["detail"] == "store unavailable (OperationalError)"
        ready_text = client.get("/readyz").text
        for leak in LEAKS:
            assert leak not in ready_text
    finally:
        proxy.restore()
    # back, without a restart: the very next requests are accepted
    accepted = [post(client, number) for number in range(2, 8)]
    assert [response.status_code for response in accepted] == [202] * 6, accepted[0].text
    retried = post(client, 8, key="outage-key-00000001")  # the key was not left reserved
    assert retried.status_code == 202, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert post(client, 8, key="outage-key-00000001").headers["idempotent-replayed"] == "true"
    assert wait_ready(client)["ok"]
    for response in [*accepted, retried]:
        assert gateway.store.get(response.json()["messageId"]) is not None
    logged = capsys.readouterr()
    assert "unexpected_error" not in logged.out + logged.err


def test_a_cut_in_the_middle_of_a_stream_never_answers_500(
    client: TestClient, gateway: Gateway, proxy: TcpProxy
) -> None:
    statuses: list[int] = []
    accepted: list[str] = []
    number = 100
    for step in range(60):
        if step == 15:
            proxy.cut()
        if step == 40:
            proxy.restore()
        number += 1
        response = post(client, number)
        statuses.append(response.status_code)
        if response.status_code == 202:
            accepted.append(response.json()["messageId"])
        else:
            assert_store_unavailable(response)
    assert set(statuses) == {202, 503}
    assert statuses[:15] == [202] * 15 and statuses[40:] == [202] * 20
    for message_id in accepted:
        assert gateway.store.get(message_id) is not None
