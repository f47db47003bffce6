"""The worker's threads as ``tthc-gateway worker`` starts them (``start_threads``), on
PostgreSQL through a proxy and the embedded queue (which lives in the same database, so the
consumer's own claims fail too): a cut of several seconds stops no thread, and every message
accepted before and after it is delivered to the portal mock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from starlette.testclient import TestClient

from gateway.api.app import create_app
from gateway.bootstrap import Gateway, build
from gateway.config import load_settings
from gateway.demo import _spec_examples
from gateway.process import start_threads
from tests.conftest import fresh_schema
from tests.e2e.stack import REPO, Stack, free_port, running
from tests.integration.faults import TcpProxy
from tests.integration.messaging.store_story import (
    TIMELINE_LOST,
    delivered_count,
    delivery_report,
    settled,
)

pytestmark = pytest.mark.integration

CITY = {"X-API-Key": "demo-city-key", "Content-Type": "application/json"}


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    with TcpProxy() as running_proxy:
        yield running_proxy


@pytest.fixture
def mocks(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path / "mocks-var")
    stack.var_dir.mkdir()
    with running(stack):
        stack.start("mocks", "mocks", "--port", str(stack.mocks_port))
        stack.wait_until(f"{stack.mocks_url}/portal/_mock/state")
        yield stack


@pytest.fixture
def gateway(
    postgres_url: str, proxy: TcpProxy, mocks: Stack, tmp_path: Path
) -> Iterator[tuple[Gateway, str]]:
    with fresh_schema(postgres_url, prefix="tthc_outage") as url:
        environ = {
            key: value
            for key, value in mocks.env().items()
            if key.startswith("TTHC_") and key != "TTHC_VAR_DIR"
        }
        environ.update(
            {
                "TTHC_VAR_DIR": str(tmp_path / "var"),
                "TTHC_KEYS__DIRECTORY": str(tmp_path / "keys"),
                "TTHC_DATABASE__URL": proxy.url(url),
                "TTHC_WORKER__METRICS_PORT": str(free_port()),
                "TTHC_EVIDENCE__CHECKPOINT_EVERY_SECONDS": "1",
            }
        )
        built = build(load_settings(REPO / "config", environ=environ), migrate=False)
        try:
            yield built, url
        finally:
            proxy.restore()
            built.close()


def dossier(number: int) -> bytes:
    record: dict[str, Any] = dict(_spec_examples()["dossier"])
    record.update(MaHoSo=f"000.00.00.H26-261128-{number:05d}", TrangThaiHoSo="2")
    return json.dumps(record).encode()


def test_worker_threads_survive_a_cut_and_deliver_everything(
    gateway: tuple[Gateway, str], proxy: TcpProxy
) -> None:
    built, direct_url = gateway
    client = TestClient(create_app(built.api_services()), raise_server_exceptions=False)
    stop = threading.Event()
    threads = start_threads(built.worker_parts(), stop)
    direct = create_engine(direct_url)
    accepted: list[str] = []
    timeline_lost: dict[str, Any] = {}

    def post(number: int) -> None:
        response = client.post("/v1/dossiers", content=dossier(number), headers=CITY)
        assert response.status_code == 202, response.text
        accepted.append(response.json()["messageId"])

    def delivered() -> int:
        return delivered_count(direct, set(accepted))

    try:
        for number in range(1, 11):
            post(number)
        with proxy.outage(6.0):
            deadline = time.monotonic() + 5.5
            while time.monotonic() < deadline:
                dead = [thread.name for thread in threads if not thread.is_alive()]
                assert not dead, f"threads stopped during the outage: {dead}"
                time.sleep(0.2)
        for number in range(11, 21):
            post(number)
        deadline = time.monotonic() + 90
        while not settled(direct, set(accepted)) and time.monotonic() < deadline:
            assert all(thread.is_alive() for thread in threads)
            time.sleep(0.3)
        unhandled, timeline_lost = delivery_report(direct, set(accepted))
        assert not unhandled, unhandled
        assert all(thread.is_alive() for thread in threads)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        direct.dispose()
        client.close()
    assert not timeline_lost, f"{TIMELINE_LOST}: {timeline_lost}"
