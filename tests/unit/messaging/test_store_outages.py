"""Background loops through a store outage: the relay, the consumer and the periodic jobs
survive it, log it once, stop taking work while it lasts, and carry on when it ends."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from gateway.domain.messages import Envelope
from gateway.messaging.port import BatchHandler, Delivery, Disposition, RetryPolicy
from gateway.messaging.relay import OutboxRelay
from gateway.messaging.store_gate import consume_through_outages
from gateway.process import Job, _run_jobs
from gateway.store.outage import OutageLog

TEXT = 'connection to server at "127.0.0.1", port 5432 failed: Connection refused'


class Store:
    """A database that can be switched off; raises what psycopg and SQLAlchemy raise."""

    def __init__(self) -> None:
        self.down = False
        self.raw = False  # raise the driver's own error (the prepared-statement path)
        self.probes = 0

    def check(self) -> None:
        if self.down:
            if self.raw:
                raise psycopg.OperationalError(TEXT)
            raise sa_exc.OperationalError("SELECT 1", {}, psycopg.OperationalError(TEXT))

    def probe(self) -> None:
        self.probes += 1
        self.check()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def running(target: Callable[[threading.Event], None]) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


def delivery(message_id: str) -> Delivery:
    envelope = Envelope(
        message_id=message_id,
        type="portal.dossier.sync",
        recipient="portal",
        correlation_id="c",
        timestamp=datetime.now(UTC),
        body=b"{}",
        jws="x",
    )
    return Delivery(envelope, 1, "t.portal.dossier.sync", "portal.dossier.sync")


class QueueTransport:
    """A queue in memory: a failed batch goes back to the front (as nack/requeue does)."""

    retry_policy = RetryPolicy()

    def __init__(self, ids: Sequence[str], store: Store, *, claims_in_store: bool = False) -> None:
        self.queue = list(ids)
        self.store = store
        self.claims_in_store = claims_in_store  # the embedded queue: claiming touches the store
        self.taken = 0
        self.returned = 0
        self.sessions = 0

    def consume_batches(
        self,
        types: Sequence[str],
        handler: BatchHandler,
        *,
        stop: threading.Event,
        max_batch: int = 100,
    ) -> None:
        self.sessions += 1
        while not stop.is_set():
            if self.claims_in_store:
                self.store.check()  # raises out of consume_batches, as the embedded one does
            batch, self.queue = self.queue[:max_batch], self.queue[max_batch:]
            if not batch:
                stop.wait(0.01)
                continue
            self.taken += len(batch)
            try:
                handler([delivery(mid) for mid in batch])
            except Exception:  # noqa: BLE001 - as the transports do: log, return, go on
                self.queue[:0] = batch
                self.returned += len(batch)
                stop.wait(0.05)


class Handler:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.done: list[str] = []
        self.calls = 0

    def __call__(self, deliveries: Sequence[Delivery]) -> list[Disposition]:
        self.calls += 1
        self.store.check()
        self.done += [d.envelope.message_id for d in deliveries]
        return [Disposition.ack() for _ in deliveries]


def consumer(
    transport: QueueTransport, handler: Handler, store: Store, caplog_name: str = "tests.gate"
) -> Callable[[threading.Event], None]:
    outage = OutageLog("consumer", logging.getLogger(caplog_name), backoff=(0.02, 0.05))

    def run(stop: threading.Event) -> None:
        consume_through_outages(
            transport,  # type: ignore[arg-type]
            ["portal.dossier.sync"],
            handler,
            probe=store.probe,
            stop=stop,
            max_batch=2,
            outage=outage,
        )

    return run


@pytest.mark.parametrize("raw", [False, True], ids=["sqlalchemy", "raw psycopg"])
def test_the_consumer_pauses_while_the_store_is_away_and_resumes(
    raw: bool, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store()
    store.raw = raw
    transport = QueueTransport([f"m-{i}" for i in range(10)], store)
    handler = Handler(store)
    with caplog.at_level(logging.INFO, logger="tests.gate"):
        store.down = True
        thread, stop = running(consumer(transport, handler, store))
        wait_for(lambda: store.probes >= 5)  # paused: probing, not consuming
        calls_while_down = handler.calls
        time.sleep(0.3)
        assert thread.is_alive()
        assert handler.calls == calls_while_down == 1  # one batch met the outage, no more
        assert transport.returned == 2  # that batch went back to the queue
        store.down = False
        wait_for(lambda: len(handler.done) == 10)
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert sorted(handler.done) == sorted(f"m-{i}" for i in range(10))
    assert transport.sessions == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "the store is unavailable" in warnings[0]
    assert any("recovered" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


def test_a_transport_failing_with_the_store_is_started_again() -> None:
    store = Store()
    transport = QueueTransport([f"m-{i}" for i in range(4)], store, claims_in_store=True)
    handler = Handler(store)
    store.down = True
    thread, stop = running(consumer(transport, handler, store))
    wait_for(lambda: store.probes >= 3)
    assert thread.is_alive() and handler.calls == 0
    store.down = False
    wait_for(lambda: len(handler.done) == 4)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_stop_ends_the_consumer_during_an_outage() -> None:
    store = Store()
    store.down = True
    transport = QueueTransport(["m-1"], store)
    thread, stop = running(consumer(transport, Handler(store), store))
    wait_for(lambda: store.probes >= 2)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_other_handler_errors_do_not_pause_the_consumer() -> None:
    store = Store()
    transport = QueueTransport(["m-1", "m-2"], store)
    failures = {"left": 3}

    def flaky(deliveries: Sequence[Delivery]) -> list[Disposition]:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("a bug")
        return [Disposition.ack() for _ in deliveries]

    stop = threading.Event()
    thread = threading.Thread(
        target=consume_through_outages,
        args=(transport, ["portal.dossier.sync"], flaky),
        kwargs={"probe": store.probe, "stop": stop},
        daemon=True,
    )
    thread.start()
    wait_for(lambda: not transport.queue and failures["left"] == 0)
    stop.set()
    thread.join(5)
    assert transport.sessions == 1 and store.probes == 0


# ---- the relay -------------------------------------------------------------------------


class OutboxOnStore:
    def __init__(self, store: Store, envelopes: list[str]) -> None:
        self.store = store
        self.pending = list(envelopes)

    def pending_outbox(self, limit: int = 100, *, lease: timedelta = timedelta(0)) -> list[Any]:
        self.store.check()
        return [delivery(mid).envelope for mid in self.pending[:limit]]

    def mark_published(self, message_ids: Any) -> None:
        self.store.check()
        ids = set(message_ids)
        self.pending = [mid for mid in self.pending if mid not in ids]


class Recorder:
    def __init__(self) -> None:
        self.published: list[str] = []

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        self.published += [e.message_id for e in envelopes]


@pytest.mark.parametrize("raw", [False, True], ids=["sqlalchemy", "raw psycopg"])
def test_the_relay_survives_an_outage_logs_it_once_and_carries_on(
    raw: bool, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store()
    store.raw = raw
    outbox = OutboxOnStore(store, ["m-1", "m-2"])
    transport = Recorder()
    relay = OutboxRelay(outbox, transport, 10, backoff=(0.01, 0.02), idle_wait=0.01)  # type: ignore[arg-type]
    store.down = True
    with caplog.at_level(logging.INFO, logger="gateway.messaging.relay"):
        thread, stop = running(relay.run)
        wait_for(lambda: relay.outage.failures >= 20)
        assert thread.is_alive() and transport.published == []
        store.down = False
        wait_for(lambda: not outbox.pending)
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert sorted(set(transport.published)) == ["m-1", "m-2"]
    relay_lines = [r for r in caplog.records if r.name == "gateway.messaging.relay"]
    warnings = [r for r in relay_lines if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "the store is unavailable" in warnings[0].getMessage()
    assert [r.levelno for r in relay_lines].count(logging.INFO) == 1


def test_the_relay_survives_any_error() -> None:
    class Broken:
        calls = 0

        def pending_outbox(self, limit: int = 100, *, lease: timedelta = timedelta(0)) -> list[Any]:
            Broken.calls += 1
            raise KeyError("not a database error at all")

        def mark_published(self, message_ids: Any) -> None:
            raise AssertionError("never")

    relay = OutboxRelay(Broken(), Recorder(), backoff=(0.01,))  # type: ignore[arg-type]
    thread, stop = running(relay.run)
    wait_for(lambda: Broken.calls >= 5)
    assert thread.is_alive()
    stop.set()
    thread.join(5)


# ---- the periodic jobs -----------------------------------------------------------------


def test_a_failing_job_is_logged_once_per_streak(caplog: pytest.LogCaptureFixture) -> None:
    store = Store()
    runs: list[bool] = []

    def checkpoint() -> None:
        runs.append(not store.down)
        store.check()

    store.down = True
    with caplog.at_level(logging.INFO, logger="gateway.process"):
        thread, stop = running(lambda stop: _run_jobs([Job("checkpoint", 0.01, checkpoint)], stop))
        wait_for(lambda: len(runs) >= 3)
        store.down = False
        wait_for(lambda: runs[-1])
        stop.set()
        thread.join(5)
    lines = [r for r in caplog.records if "periodic job checkpoint" in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.INFO]
