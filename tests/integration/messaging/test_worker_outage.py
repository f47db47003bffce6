"""A ``tthc-gateway worker`` and a ``serve`` process on RabbitMQ + PostgreSQL, the database
taken away for several seconds mid-stream (a proxy cut, the shared server untouched).

What must hold: neither process exits; ``serve`` answers 202 or 503 with ``Retry-After``,
never 500; every message accepted before, during (none) and after the cut is delivered to
the portal mock exactly as it would be without the outage; the worker logs the outage a
bounded number of times, not once per attempt. A message the partner got but whose
``delivered`` event was lost to the cut (a known worker defect, see
``store_story.delivery_report``) turns the test into an expected failure that names it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine

from gateway.demo import _spec_examples
from gateway.messaging.port import RetryPolicy
from gateway.messaging.rabbitmq import RabbitSettings, RabbitTransport
from tests.conftest import fresh_schema
from tests.e2e.stack import Stack, free_port, running
from tests.integration.faults import TcpProxy
from tests.integration.messaging.store_story import (
    TIMELINE_LOST,
    delivery_report,
    settled,
)

pytestmark = pytest.mark.integration

CITY = {"X-API-Key": "demo-city-key", "Content-Type": "application/json"}
OUTAGE_SECONDS = 6.0
DEMO_RETRY = RetryPolicy(delays=(1.0, 5.0, 30.0), max_attempts=4)  # config/demo.yaml


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    with fresh_schema(postgres_url, prefix="tthc_outage") as url:
        yield url


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    with TcpProxy() as running_proxy:
        yield running_proxy


@pytest.fixture
def prefix(amqp_url: str) -> Iterator[str]:
    prefix = f"tthc-outage-{uuid.uuid4().hex[:8]}"
    yield prefix
    rabbit = RabbitTransport(RabbitSettings(url=amqp_url, prefix=prefix, retry=DEMO_RETRY))
    try:
        rabbit.delete_topology()
    finally:
        rabbit.close()


def dossier(number: int) -> bytes:
    record: dict[str, Any] = dict(_spec_examples()["dossier"])
    record.update(MaHoSo=f"000.00.00.H26-261127-{number:05d}", TrangThaiHoSo="2")
    return json.dumps(record).encode()


class Poster:
    """Posts dossiers one after another and keeps every answer."""

    def __init__(self, url: str) -> None:
        self.url = f"{url}/v1/dossiers"
        self.answers: list[tuple[int, int, dict[str, str], Any]] = []  # (number, status, ...)
        self.number = 0

    def post(self) -> int:
        self.number += 1
        response = requests.post(self.url, data=dossier(self.number), headers=CITY, timeout=30)
        body = response.json()
        self.answers.append((self.number, response.status_code, dict(response.headers), body))
        return response.status_code

    def stream(self, stop: threading.Event, pause: float = 0.1) -> None:
        while not stop.is_set():
            self.post()
            stop.wait(pause)

    def accepted(self) -> dict[str, int]:
        return {body["messageId"]: n for n, status, _, body in self.answers if status == 202}


def wait_for_worker(stack: Stack, metrics_port: int, timeout: float = 60.0) -> None:
    stack.wait_until(f"http://127.0.0.1:{metrics_port}/metrics", timeout=timeout)


def test_worker_and_serve_keep_running_through_a_database_outage(
    tmp_path: Path, schema: str, proxy: TcpProxy, amqp_url: str, prefix: str
) -> None:
    metrics_port = free_port()
    env = {
        "TTHC_DATABASE__URL": proxy.url(schema),
        "TTHC_BROKER__URL": amqp_url,
        "TTHC_BROKER__TOPOLOGY_PREFIX": prefix,
        "TTHC_WORKER__METRICS_PORT": str(metrics_port),
        "TTHC_EVIDENCE__CHECKPOINT_EVERY_SECONDS": "1",
    }
    stack = Stack(tmp_path, extra_env=env)
    direct = create_engine(schema)
    try:
        with running(stack):
            stack.start("mocks", "mocks", "--port", str(stack.mocks_port))
            stack.wait_until(f"{stack.mocks_url}/portal/_mock/state")
            stack.start("serve", "serve")
            stack.start("worker", "worker")
            stack.wait_until(f"{stack.gateway_url}/readyz")
            wait_for_worker(stack, metrics_port)
            poster = Poster(stack.gateway_url)
            for _ in range(10):
                assert poster.post() == 202, poster.answers[-1]
            stop = threading.Event()
            streaming = threading.Thread(target=poster.stream, args=(stop,), daemon=True)
            streaming.start()
            time.sleep(1.0)  # messages in flight in the relay and the worker
            with proxy.outage(OUTAGE_SECONDS):
                cut_at = len(poster.answers)
                time.sleep(0.5)
                for name, process in stack.processes:
                    assert process.poll() is None, f"{name} exited during the outage"
            time.sleep(4.0)  # the stream goes on after the restore
            stop.set()
            streaming.join(30)
            for _ in range(10):
                assert poster.post() == 202, poster.answers[-1]
            accepted = poster.accepted()
            deadline = time.monotonic() + 90
            while not settled(direct, set(accepted)) and time.monotonic() < deadline:
                time.sleep(0.5)
            for name, process in stack.processes:
                assert process.poll() is None, f"{name} exited: {stack.log(name)[-3000:]}"
            portal = requests.get(f"{stack.mocks_url}/portal/_mock/state", timeout=10).json()
            unhandled, timeline_lost = delivery_report(direct, set(accepted))
    finally:
        direct.dispose()
    assert not unhandled, unhandled
    # serve: 202 or a 503 with Retry-After, never a 500, and some 503s while cut
    answered = [status for _, status, _, _ in poster.answers]
    assert set(answered) <= {202, 503}, answered
    refused = [(headers, body) for _, status, headers, body in poster.answers if status == 503]
    assert refused, "no request met the outage"
    assert all(202 == status for _, status, _, _ in poster.answers[:cut_at])
    for headers, body in refused:
        assert {k.lower(): v for k, v in headers.items()}["retry-after"].isdigit()
        assert body["code"] == "store_unavailable"
    # every accepted dossier reached the portal mock
    held = json.dumps(portal)
    missing = [n for n in accepted.values() if f"000.00.00.H26-261127-{n:05d}" not in held]
    assert not missing, missing
    # the worker logged the outage, boundedly, and no thread stopped
    worker_log = stack.log("worker")
    assert "worker thread stopped unexpectedly" not in worker_log
    lines = [json.loads(line) for line in worker_log.splitlines() if line.startswith("{")]
    warnings = [line for line in lines if line.get("level") in ("warning", "error")]
    assert len(warnings) <= 30, "\n".join(str(w.get("event"))[:200] for w in warnings)
    assert any("unavailable" in str(line.get("event")) for line in warnings)
    assert any("recovered" in str(line.get("event")) for line in lines)
    serve_log = stack.log("serve")
    assert "unexpected_error" not in serve_log and "Traceback" not in serve_log
    assert not timeline_lost, f"{TIMELINE_LOST}: {timeline_lost}"
