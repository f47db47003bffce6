"""A broker URL naming several cluster nodes: a connection moves to a node that answers."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime

import pytest

from gateway.domain.messages import Envelope
from gateway.messaging.port import Disposition, PublishFailed, RetryPolicy
from gateway.messaging.rabbitmq import RabbitSettings, RabbitTransport

pytestmark = pytest.mark.integration

SYNC = "portal.dossier.sync"


def test_a_dead_first_node_is_skipped_for_the_next_one(amqp_url: str) -> None:
    dead = "amqp://guest:guest@127.0.0.1:1/%2F"  # nothing listens there
    transport = RabbitTransport(
        RabbitSettings(
            url=f"{dead},{amqp_url}",
            prefix=f"failover{secrets.token_hex(4)}",
            types=(SYNC,),
            retry=RetryPolicy((0.2,), 2),
        )
    )
    try:
        transport.declare()
        transport.publish([sync_envelope("f-1")])
        got: list[str] = []
        stop = threading.Event()

        def handler(deliveries: object) -> list[Disposition]:
            batch = list(deliveries)  # type: ignore[call-overload]
            got.extend(d.envelope.message_id for d in batch)
            stop.set()
            return [Disposition.ack() for _ in batch]

        thread = threading.Thread(
            target=transport.consume_batches, args=([SYNC], handler), kwargs={"stop": stop}
        )
        thread.start()
        thread.join(30)
        stop.set()
        assert got == ["f-1"]
    finally:
        transport.delete_topology()
        transport.close()


def test_a_nack_renews_the_publishing_channel_and_the_next_publish_goes_through(
    amqp_url: str,
) -> None:
    """A queue that refuses (here: full, reject-publish) nacks; the batch fails, the channel
    is replaced (a quorum queue's client state lives in it), the connection is kept."""
    prefix = f"nack{secrets.token_hex(4)}"
    transport = RabbitTransport(
        RabbitSettings(url=amqp_url, prefix=prefix, types=(SYNC,), retry=RetryPolicy((0.2,), 2))
    )
    full = f"{prefix}.full"
    try:
        transport.declare()
        channel = transport._publish_channel()
        connection = transport._local.connection
        channel.queue_declare(
            full, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
        )
        channel.queue_bind(full, prefix, routing_key=SYNC)
        with pytest.raises(PublishFailed, match="nack"):
            transport.publish([sync_envelope("n-1")])
        renewed = transport._publish_channel()
        assert renewed is not channel and transport._local.connection is connection
        renewed.queue_unbind(full, prefix, routing_key=SYNC)
        transport.publish([sync_envelope("n-2")])  # confirmed on the new channel
    finally:
        transport._publish_channel().queue_delete(full)
        transport.delete_topology()
        transport.close()


def sync_envelope(message_id: str) -> Envelope:
    return Envelope(
        message_id=message_id,
        type=SYNC,
        recipient="portal",
        correlation_id="c",
        timestamp=datetime.now(UTC),
        body=b"{}",
        jws="h..s",
    )
