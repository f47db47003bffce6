"""A worker process for the crash tests: ``python worker_child.py <json config>``.

It consumes ``portal.dossier.sync`` with a handler whose side effect is one row per call in
the ``side_effects`` table of the test's database. On the message named ``slow_id`` it first
touches ``marker`` and then sleeps (unless the marker already exists): the test kills it there,
mid-message. SIGTERM stops it gracefully (in-flight finished, the rest returned).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from gateway.domain.messages import Envelope, MessageType  # noqa: E402
from gateway.envelope import EnvelopeVerifier  # noqa: E402
from gateway.keys import KeyStore  # noqa: E402
from gateway.messaging.embedded import EmbeddedTransport  # noqa: E402
from gateway.messaging.port import RetryPolicy, Transport  # noqa: E402
from gateway.messaging.rabbitmq import RabbitSettings, RabbitTransport  # noqa: E402
from gateway.messaging.worker import Worker, stop_on_signals  # noqa: E402
from gateway.store.batch_timeline import BatchTimeline  # noqa: E402
from gateway.store.db import make_engine  # noqa: E402
from gateway.store.evidence import EvidenceLog  # noqa: E402
from gateway.store.ledger import Ledger  # noqa: E402

SYNC = MessageType.PORTAL_DOSSIER_SYNC.value


def main() -> None:
    config = json.loads(sys.argv[1])
    engine = make_engine(config["database_url"])
    keystore = KeyStore(Path(config["keys"]), "ES256", timedelta(days=30))
    retry = RetryPolicy(delays=(0.2, 0.4), max_attempts=5)
    transport: Transport
    if config.get("amqp_url"):
        settings = RabbitSettings(url=config["amqp_url"], prefix=config["prefix"], retry=retry)
        transport = RabbitTransport(settings)
    else:
        transport = EmbeddedTransport(
            engine,
            prefix=config["prefix"],
            retry=retry,
            lease=timedelta(seconds=config["lease"]),
            poll_interval=0.02,
        )
    marker = Path(config["marker"])

    def handler(envelope: Envelope) -> dict[str, str]:
        if envelope.message_id == config["slow_id"] and not marker.exists():
            # The default ledger completion ("group") commits finished handlers from a
            # background thread; a crash repeats only those whose commit is in flight (a
            # few ms, documented). Give that commit time before announcing the kill point,
            # so the test measures the crash mid-handler and not that window under load.
            time.sleep(0.5)
            marker.write_text("in the handler")
            time.sleep(60)  # killed here
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO side_effects (message_id) VALUES (:mid)"),
                {"mid": envelope.message_id},
            )
        return {"done": envelope.message_id}

    worker = Worker(
        transport,
        EnvelopeVerifier(keystore, max_age=timedelta(days=1)),
        Ledger(engine),
        BatchTimeline(engine),
        EvidenceLog(engine, keystore=keystore),
        {SYNC: handler},
        "portal-sync",
        lease=timedelta(seconds=config["lease"]),
        max_batch=20,
    )
    stop = threading.Event()
    stop_on_signals(stop)
    worker.run(stop)
    transport.close()
    print("worker stopped cleanly", flush=True)


if __name__ == "__main__":
    main()
