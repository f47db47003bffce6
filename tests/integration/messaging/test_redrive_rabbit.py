"""The re-drive from the store on the real RabbitMQ and PostgreSQL: a stranded tier copy.

Must show: a message a worker deferred into a retry tier, whose tier copy is then lost (the
tier queue purged: what a stalled at-least-once dead-letter after a leader's node loss amounts
to for the gateway), never comes back by itself; the re-drive, once the grace has passed,
publishes it again from the store, and the worker handles it, delivered, exactly once at the
handler. Also: the worker role on RabbitMQ runs the re-drive as a periodic job with the
configured interval and grace.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path

import pika
from sqlalchemy import select

from gateway.domain.errors import UpstreamTimeout
from gateway.domain.messages import Envelope
from gateway.messaging.codec import now_utc
from gateway.messaging.port import RetryPolicy
from gateway.messaging.rabbitmq import RabbitTransport
from gateway.messaging.redrive import redrive
from gateway.store.schema import messages

from .conftest import Backend
from .helpers import SYNC, CountingHandler, accept, make_worker, relay_for, sign

#: one 4 s tier: long enough to take its copy away before it dead-letters back
TIER = RetryPolicy(delays=(4.0,), max_attempts=5)
GRACE = timedelta(seconds=1)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.02)


@contextmanager
def running(target: Callable[[threading.Event], None]) -> Iterator[threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(stop,), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive(), "the worker did not stop when asked"


class Broker:
    """A channel of the test's own, to look into and purge the tier queue."""

    def __init__(self, url: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()

    def ready(self, queue: str) -> int:
        return int(self.channel.queue_declare(queue, passive=True).method.message_count)

    def purge(self, queue: str) -> None:
        self.channel.queue_purge(queue)

    def close(self) -> None:
        self.connection.close()


def test_a_copy_stranded_in_a_tier_is_re_driven_from_the_store_and_handled_once(
    rabbit_backend: Backend,
) -> None:
    backend = rabbit_backend
    assert backend.amqp_url is not None
    transport = backend.transport(retry=TIER)
    assert isinstance(transport, RabbitTransport)
    (tier,) = transport.settings.tier_names()
    envelope = sign(backend, "m-stranded")
    accept(backend, [envelope])
    assert relay_for(backend, transport).drain() == 1
    successes: list[str] = []
    first_call = threading.Event()

    def fail_first(env: Envelope) -> Exception | None:
        if not first_call.is_set():
            first_call.set()
            return UpstreamTimeout("portal", "slow")  # the partner down: deferred to the tier
        successes.append(env.message_id)
        return None

    handler = CountingHandler(fail_first)
    worker = make_worker(backend, transport, handler)
    store = backend.stack.store
    broker = Broker(backend.amqp_url)
    try:
        with running(worker.run):
            wait_for(lambda: broker.ready(tier) == 1, 3.5, "the deferred copy in its tier")
            broker.purge(tier)  # the tier's copy will never come back
            with store.engine.connect() as connection:
                due = connection.execute(
                    select(messages.c.due_at).where(messages.c.id == "m-stranded")
                ).scalar_one()
            assert due is not None
            view = store.get("m-stranded")
            assert view is not None and view.status == "retrying"
            # past the tier's delay and the grace: nothing came back on its own
            wait_for(lambda: now_utc() > due + GRACE + timedelta(seconds=0.5), 10, "overdue")
            assert handler.calls["m-stranded"] == 1 and successes == []
            redriven = redrive(store, transport, grace=GRACE)
            assert [item.message_id for item in redriven] == ["m-stranded"]
            wait_for(
                lambda: store.get("m-stranded").status == "delivered",  # type: ignore[union-attr]
                15,
                "the re-driven copy delivered",
            )
            time.sleep(1.0)  # any extra copy would be handled by now
            assert redrive(store, transport, grace=GRACE) == []  # delivered: never again
        assert successes == ["m-stranded"]  # handled exactly once
        assert handler.calls["m-stranded"] == 2  # the failed attempt, then the re-driven copy
        events = [e.event for e in store.get("m-stranded").timeline]  # type: ignore[union-attr]
        assert events.count("redriven") == 1
        assert events[-1] == "delivered"
        assert broker.ready(tier) == 0
    finally:
        broker.close()


def test_the_worker_role_on_rabbitmq_runs_the_re_drive_job(
    amqp_url: str, tmp_path: Path
) -> None:
    from gateway.bootstrap import build
    from gateway.config import load_settings

    repo = Path(__file__).resolve().parents[3]
    prefix = f"t{uuid.uuid4().hex[:10]}"
    environ = {
        "TTHC_VAR_DIR": str(tmp_path / "var"),
        "TTHC_KEYS__DIRECTORY": str(tmp_path / "keys"),
        "TTHC_BROKER__URL": amqp_url,
        "TTHC_BROKER__TOPOLOGY_PREFIX": prefix,
        "TTHC_BROKER__REDRIVE_INTERVAL_SECONDS": "7",
        "TTHC_BROKER__REDRIVE_GRACE_SECONDS": "45",
    }
    gateway = build(load_settings(repo / "config", environ=environ))
    try:
        jobs = {job.name: job for job in gateway.periodic_jobs()}
        assert jobs["redrive"].every_seconds == 7
        run = jobs["redrive"].run
        assert isinstance(run, partial) and run.keywords["grace"] == timedelta(seconds=45)
        assert jobs["redrive"].run() == []  # nothing overdue in a fresh store
        assert gateway.metrics.get_sample_value(
            "tthc_messages_redriven_total", {"type": SYNC}
        ) == 0
    finally:
        transport = gateway.transport
        assert isinstance(transport, RabbitTransport)
        transport.delete_topology()
        gateway.close()

