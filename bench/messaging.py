"""Messaging benchmark: sign+verify cost, and end-to-end messages/s against raw pika.

Run: ``.venv/bin/python bench/messaging.py [--messages N] [--rounds R] [--skip-sqlite]
[--skip-postgres]``

What it measures, in one run on this machine:
1. per-message cost of signing and verifying an envelope (ES256, the default);
2. a raw pika baseline: the same bytes (body + the ``x-jws`` header, persistent) published by
   one thread with publisher confirms awaited per batch of 500 (as the relay does) and consumed
   with acks by another, through one quorum queue; no store, no signing;
3. the gateway end to end: a producer process (the API's role) signs and accepts messages into
   the store (``accept_many``, batches of 100); a worker process runs the outbox relay (publish
   with confirms, mark published) and a worker that verifies, claims in the ledger, calls a
   no-op handler, completes the ledger, writes the timeline and the evidence records, and acks.
   The clock stops when the last message is acked. Once per ledger completion mode of the
   worker (``group``, the default; ``batch``; ``each``). On PostgreSQL and on SQLite (RabbitMQ
   as the broker in both), plus the embedded transport on SQLite (the single-machine default).

Needs RabbitMQ on 127.0.0.1:5672 and PostgreSQL on 127.0.0.1:5432 (database ``test``); names
are random and removed afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import pika
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.domain.messages import Envelope, MessageType  # noqa: E402
from gateway.messaging.embedded import EmbeddedTransport  # noqa: E402
from gateway.messaging.liveness import Liveness  # noqa: E402
from gateway.messaging.port import Delivery, Disposition, Transport  # noqa: E402
from gateway.messaging.rabbitmq import RabbitSettings, RabbitTransport  # noqa: E402
from gateway.messaging.relay import OutboxRelay  # noqa: E402
from gateway.messaging.worker import Worker  # noqa: E402
from gateway.store.batch_timeline import BatchTimeline  # noqa: E402
from gateway.store.ledger import Ledger  # noqa: E402
from gateway.store.messages import Acceptance  # noqa: E402
from gateway.store.workers import WorkerRegistry  # noqa: E402
from gateway.testing import LocalStack, local_stack  # noqa: E402

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SYNC = MessageType.PORTAL_DOSSIER_SYNC.value
CONFIRM_BATCH = 500  # the relay's batch size
BODY = (
    b'{"MaHoSo": "000.00.00.H26-241120-0001", "MaTTHC": "1.001234", "TrangThaiHoSo": 4, '
    b'"NgayTiepNhan": "20241120083015", "ChuHoSo": "*** masked ***", "LoaiDoiTuong": 1}'
)


def body_for(index: int) -> bytes:
    return BODY.replace(b"0001", f"{index % 10000:04d}".encode(), 1)


# -- 1. sign + verify ---------------------------------------------------------------------


def bench_sign_verify(stack: LocalStack, count: int) -> tuple[float, float]:
    envelopes: list[Envelope] = []
    started = time.perf_counter()
    for index in range(count):
        envelopes.append(
            stack.signer.sign(
                message_id=f"sv-{index}",
                type=SYNC,
                recipient="portal",
                body=body_for(index),
                correlation_id="bench",
            )
        )
    sign_us = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for envelope in envelopes:
        stack.verifier.verify(envelope, expected_type=SYNC, expected_recipient="portal")
    verify_us = (time.perf_counter() - started) / count * 1e6
    return sign_us, verify_us


# -- 2. raw pika baseline -----------------------------------------------------------------


def bench_raw_pika(envelopes: Sequence[Envelope]) -> float:
    """Messages/s: publish with confirms (waited for per batch of 500) in one thread, consume
    with acks in another."""
    queue = f"bench.raw.{uuid.uuid4().hex[:8]}"
    setup = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = setup.channel()
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    total = len(envelopes)
    done = threading.Event()

    def consume() -> None:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        consumer = connection.channel()
        consumer.basic_qos(prefetch_count=200)
        received = 0

        def on_message(ch: object, method: object, _props: object, _body: bytes) -> None:
            nonlocal received
            consumer.basic_ack(method.delivery_tag)  # type: ignore[attr-defined]
            received += 1
            if received == total:
                done.set()

        consumer.basic_consume(queue, on_message)
        while not done.is_set():
            connection.process_data_events(time_limit=0.1)
        connection.close()

    consumer_thread = threading.Thread(target=consume)
    consumer_thread.start()
    publisher = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    pub = publisher.channel()
    # confirms in batches, the same way the gateway's transport waits for them
    outstanding: set[int] = set()
    selected = threading.Event()

    def on_confirm(frame: pika.frame.Method) -> None:
        tag, multiple = frame.method.delivery_tag, frame.method.multiple  # type: ignore[attr-defined]
        outstanding.difference_update([t for t in outstanding if t <= tag] if multiple else [tag])

    pub._impl.confirm_delivery(ack_nack_callback=on_confirm, callback=lambda _f: selected.set())
    while not selected.is_set():
        publisher.process_data_events(time_limit=0.05)
    started = time.perf_counter()
    tag = 0
    for start in range(0, total, CONFIRM_BATCH):
        for envelope in envelopes[start : start + CONFIRM_BATCH]:
            properties = pika.BasicProperties(
                delivery_mode=2,
                message_id=envelope.message_id,
                correlation_id=envelope.correlation_id,
                type=envelope.type,
                timestamp=int(envelope.timestamp.timestamp()),
                headers={"x-jws": envelope.jws},
            )
            tag += 1
            outstanding.add(tag)
            pub.basic_publish("", queue, envelope.body, properties, mandatory=True)
        while outstanding:
            publisher.process_data_events(time_limit=0.05)
    done.wait(300)
    elapsed = time.perf_counter() - started
    consumer_thread.join()
    publisher.close()
    channel.queue_delete(queue)
    setup.close()
    return total / elapsed


# -- 3. the gateway end to end ------------------------------------------------------------


class NoOp:
    def __call__(self, envelope: Envelope) -> None:
        return None


def make_transport(stack: LocalStack, kind: str, prefix: str) -> Transport:
    if kind == "embedded":
        return EmbeddedTransport(
            stack.engine,
            prefix=prefix,
            types=(SYNC,),
            lease=timedelta(seconds=60),
            poll_interval=0.01,
        )
    transport = RabbitTransport(RabbitSettings(url=AMQP_URL, prefix=prefix, types=(SYNC,)))
    transport.declare()
    return transport


def worker_process(
    directory: str,
    url: str | None,
    kind: str,
    prefix: str,
    acked: Synchronized[int],
    ready: EventType,
    stop: EventType,
    completion: str,
) -> None:
    """The ``tthc-gateway worker`` role: the outbox relay and one consumer, in one process."""
    stack = local_stack(Path(directory), url)
    transport = make_transport(stack, kind, prefix)
    # as `tthc-gateway worker` runs it: registered, heartbeating, claims naming the worker
    liveness = Liveness(WorkerRegistry(stack.engine), interval=2.0, lease=timedelta(seconds=60))
    worker = Worker(
        transport,
        stack.verifier,
        Ledger(stack.engine, worker_id=liveness.worker_id),
        BatchTimeline(stack.engine),
        stack.evidence,
        {SYNC: NoOp()},
        "bench",
        completion=completion,  # type: ignore[arg-type]
        lease=liveness.lease,
    )
    liveness.renewers.append(worker.renew_leases)
    if isinstance(transport, EmbeddedTransport):
        transport.consumer_id = liveness.worker_id
        transport.dead_after = timedelta(seconds=10)
        liveness.renewers.append(transport.renew)
    liveness.register()
    relay = OutboxRelay(stack.store, transport, batch_size=500, idle_wait=0.005)
    handle_batch = worker.handle_batch

    def counting(deliveries: Sequence[Delivery]) -> list[Disposition]:
        result = handle_batch(deliveries)
        with acked.get_lock():
            acked.value += sum(d.action == "ack" for d in result)
        return result

    local_stop = threading.Event()
    threading.Thread(target=liveness.run, args=(local_stop,), daemon=True).start()
    relay_thread = threading.Thread(target=relay.run, args=(local_stop,))
    relay_thread.start()
    consumer = threading.Thread(
        target=transport.consume_batches,
        args=([SYNC], counting),
        kwargs={"stop": local_stop, "max_batch": 200},
    )
    consumer.start()
    ready.set()
    stop.wait()
    local_stop.set()
    relay_thread.join()
    consumer.join()
    stack.evidence.close()
    transport.close()


def bench_gateway(
    directory: Path, url: str | None, kind: str, count: int, completion: str
) -> float:
    """Messages/s from the first accept to the last ack.

    The producer (the API's role: sign, ``accept_many``) runs in this process; the relay and the
    worker run in a second process, as ``tthc-gateway worker`` does.
    """
    context = multiprocessing.get_context("spawn")
    acked = context.Value("q", 0)
    ready, stop = context.Event(), context.Event()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    stack = local_stack(directory, url)
    process = context.Process(
        target=worker_process,
        args=(str(directory), url, kind, prefix, acked, ready, stop, completion),
    )
    process.start()
    if not ready.wait(60):
        raise SystemExit(f"{kind}: the worker process did not start")
    run = uuid.uuid4().hex[:6]
    started = time.perf_counter()
    batch: list[Acceptance] = []
    for index in range(count):
        envelope = stack.signer.sign(
            message_id=f"{kind}-{run}-{index}",
            type=SYNC,
            recipient="portal",
            body=body_for(index),
            correlation_id=f"bench-{index}",
        )
        batch.append(Acceptance(envelope, "000.00.00.H26-241120-0001", "portal"))
        if len(batch) == 100:
            stack.store.accept_many(batch)
            batch = []
    if batch:
        stack.store.accept_many(batch)
    deadline = time.monotonic() + 600
    while acked.value < count and time.monotonic() < deadline and process.is_alive():
        time.sleep(0.002)
    elapsed = time.perf_counter() - started
    stop.set()
    process.join(60)
    if kind != "embedded":
        cleanup = RabbitTransport(RabbitSettings(url=AMQP_URL, prefix=prefix, types=(SYNC,)))
        cleanup.delete_topology()
        cleanup.close()
    stack.engine.dispose()
    if acked.value < count:
        raise SystemExit(f"{kind}: only {acked.value}/{count} acked")
    return count / elapsed


# -- orchestration ------------------------------------------------------------------------


def postgres_schema() -> tuple[str, Callable[[], None]]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}", drop


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2, help="runs per figure (median)")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)
    count = args.messages
    with tempfile.TemporaryDirectory() as tmp:
        base = local_stack(Path(tmp) / "sv")
        sign_us, verify_us = bench_sign_verify(base, 2000)
        print(f"sign   ES256: {sign_us:8.1f} us/message")
        print(f"verify ES256: {verify_us:8.1f} us/message")
        sample = [
            base.signer.sign(
                message_id=f"raw-{i}",
                type=SYNC,
                recipient="portal",
                body=body_for(i),
                correlation_id="bench",
            )
            for i in range(count)
        ]
        base.engine.dispose()
        setups: list[tuple[str, str]] = []
        if not args.skip_postgres:
            setups.append(("PostgreSQL + RabbitMQ", "postgres"))
        if not args.skip_sqlite:
            setups += [("SQLite + RabbitMQ", "sqlite"), ("SQLite + embedded queue", "embedded")]
        for title, kind in setups:
            raw_rates: list[float] = []
            rates: dict[str, list[float]] = {"group": [], "batch": [], "each": []}
            for round_ in range(args.rounds):
                for completion in rates:
                    directory = Path(tmp) / f"{kind}-{completion}-{round_}"
                    drop: Callable[[], None] = lambda: None  # noqa: E731
                    url = None
                    if kind == "postgres":
                        url, drop = postgres_schema()
                    try:
                        if completion == "group":
                            raw_rates.append(bench_raw_pika(sample))
                        rates[completion].append(
                            bench_gateway(directory, url, kind, count, completion)
                        )
                    finally:
                        drop()
            raw = statistics.median(raw_rates)
            print(f"{title}  (N={count}, median of {args.rounds})")
            print(f"    raw pika baseline            {raw:8.0f} msg/s")
            for completion, values in rates.items():
                gateway = statistics.median(values)
                print(
                    f"    gateway, ledger completion {completion:5s} {gateway:8.0f} msg/s"
                    f"   ratio {gateway / raw:5.2f}"
                )


if __name__ == "__main__":
    main()
