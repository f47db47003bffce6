"""Crashes: a worker killed with SIGKILL mid-message, and the broker restarted mid-stream.

Side effects are counted in a table (one row per handler call): every message must end with
exactly one row, none missing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.domain.messages import Envelope
from gateway.messaging.rabbitmq import RabbitTransport
from tests.conftest import outbox_rows

from .conftest import Backend
from .helpers import CountingHandler, accept, make_worker, relay_for, run_until, sign

CHILD = Path(__file__).with_name("worker_child.py")


def create_side_effects(backend: Backend) -> None:
    with backend.stack.engine.begin() as connection:
        connection.execute(text("CREATE TABLE side_effects (message_id VARCHAR(64) NOT NULL)"))


def side_effects(backend: Backend) -> Counter[str]:
    with backend.stack.engine.connect() as connection:
        rows = connection.execute(text("SELECT message_id FROM side_effects")).scalars()
        return Counter(rows)


def start_child(backend: Backend, tmp_path: Path, slow_id: str) -> subprocess.Popen[bytes]:
    config = {
        "database_url": backend.database_url,
        "amqp_url": backend.amqp_url,
        "prefix": backend.prefix,
        "keys": str(tmp_path / "keys"),
        "marker": str(tmp_path / "marker"),
        "slow_id": slow_id,
        "lease": 2,
    }
    return subprocess.Popen([sys.executable, str(CHILD), json.dumps(config)])


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_worker_killed_mid_message_every_message_processed_exactly_once(
    backend: Backend, tmp_path: Path
) -> None:
    create_side_effects(backend)
    transport = backend.transport()
    batch = [sign(backend, f"m-{i:04d}") for i in range(300)]
    accept(backend, batch)
    relay_for(backend, transport).drain()
    first = start_child(backend, tmp_path, slow_id="m-0150")
    try:
        wait_for((tmp_path / "marker").exists, 60, "the worker to reach the slow message")
        assert first.poll() is None
        os.kill(first.pid, signal.SIGKILL)  # mid-message
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    before = side_effects(backend)
    assert "m-0150" not in before and len(before) < 300
    second = start_child(backend, tmp_path, slow_id="m-0150")
    try:
        wait_for(lambda: len(side_effects(backend)) >= 300, 60, "all 300 side effects")
        time.sleep(0.5)  # let any duplicate show up
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0, "SIGTERM did not stop the worker cleanly"
    finally:
        if second.poll() is None:
            second.kill()
    counts = side_effects(backend)
    assert sorted(counts) == sorted(e.message_id for e in batch), "a message was lost"
    assert set(counts.values()) == {1}, (
        f"processed twice: {[m for m, n in counts.items() if n > 1]}"
    )
    assert backend.stack.store.get("m-0150").status == "delivered"  # type: ignore[union-attr]


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@pytest.mark.timeout(240)
def test_broker_restarted_mid_stream_nothing_lost_nothing_twice(rabbit_backend: Backend) -> None:
    backend = rabbit_backend
    create_side_effects(backend)
    transport = backend.transport()
    assert isinstance(transport, RabbitTransport)
    engine = backend.stack.engine

    class SideEffect(CountingHandler):
        def __call__(self, envelope: Envelope) -> dict[str, str]:
            with engine.begin() as connection:
                connection.execute(
                    text("INSERT INTO side_effects (message_id) VALUES (:mid)"),
                    {"mid": envelope.message_id},
                )
            return super().__call__(envelope)

    handler = SideEffect()
    worker = make_worker(backend, transport, handler)
    relay = relay_for(backend, backend.transport(), lease=1.0)
    batch = [sign(backend, f"m-{i:04d}") for i in range(1500)]
    produced = threading.Event()

    def produce() -> None:
        for start in range(0, len(batch), 50):
            accept(backend, batch[start : start + 50])
            time.sleep(0.05)
        produced.set()

    def run(stop: threading.Event) -> None:
        threads = [
            threading.Thread(target=relay.run, args=(stop,), daemon=True),
            threading.Thread(target=produce, daemon=True),
        ]
        for thread in threads:
            thread.start()
        worker.run(stop)
        for thread in threads:
            thread.join(30)

    restarted = threading.Event()

    def restart_when_flowing() -> None:
        wait_for(lambda: len(handler.calls) >= 200, 60, "the stream to flow")
        try:
            rabbitmqctl("stop_app")
            time.sleep(1)
        finally:
            rabbitmqctl("start_app")  # always, even if stop_app failed half-way
            restarted.set()

    restarter = threading.Thread(target=restart_when_flowing, daemon=True)
    restarter.start()
    try:
        run_until(
            run,
            lambda: produced.is_set() and restarted.is_set() and len(handler.calls) >= 1500,
            timeout=180,
        )
    finally:
        restarter.join(150)
        if not restarted.is_set():
            rabbitmqctl("start_app")
    assert restarted.is_set()
    counts = side_effects(backend)
    assert len(counts) == 1500, f"lost {1500 - len(counts)} messages"
    assert set(counts.values()) == {1}, "a message was processed twice"
    assert outbox_rows(backend.stack.engine) == 0
