"""RabbitMQ wire details for :mod:`gateway.messaging.rabbitmq`: settings, topology, confirms.

Everything here touches pika or AMQP names; nothing here is imported outside the RabbitMQ
transport. The topology is the one design.md fixes (see the transport's docstring).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from gateway.domain.messages import Envelope
from gateway.messaging.port import ALL_TYPES, PublishFailed, RetryPolicy, TransportError

#: Headers the broker adds when it dead-letters or counts deliveries; not the envelope's.
BROKER_HEADERS = ("x-death", "x-first-death-", "x-last-death-", "x-delivery-count")


def tier_label(seconds: float) -> str:
    """``5s``, ``30s``, ``5m``, ``30m``, ``200ms``: the suffix of a retry tier's name."""
    millis = round(seconds * 1000)
    if millis % 60_000 == 0:
        return f"{millis // 60_000}m"
    if millis % 1000 == 0:
        return f"{millis // 1000}s"
    return f"{millis}ms"


@dataclass(frozen=True)
class RabbitSettings:
    """Broker URL, topology prefix, message types, retry tiers and connection tuning."""

    url: str
    prefix: str = "tthc"
    types: tuple[str, ...] = ALL_TYPES
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    prefetch: int = 200
    heartbeat: int = 30
    blocked_connection_timeout: float = 60.0
    delivery_limit: int = 20
    connect_backoff: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 5.0)
    connect_attempts: int = 8
    confirm_timeout: float = 30.0
    batch_linger: float = 0.05

    def queue_for(self, type_: str) -> str:
        return f"{self.prefix}.{type_}"

    def tier_names(self) -> list[str]:
        return [f"{self.prefix}.retry.{tier_label(d)}" for d in self.retry.delays]

    @property
    def parked(self) -> str:
        return f"{self.prefix}.parked"


def declare_topology(channel: BlockingChannel, s: RabbitSettings) -> None:
    """Declare exchanges, queues and bindings (idempotent)."""
    quorum: dict[str, Any] = {"x-queue-type": "quorum"}
    channel.exchange_declare(s.prefix, exchange_type="topic", durable=True)
    channel.exchange_declare(s.parked, exchange_type="fanout", durable=True)
    channel.queue_declare(s.parked, durable=True, arguments=quorum)
    channel.queue_bind(s.parked, s.parked)
    for type_ in s.types:
        arguments = {
            **quorum,
            "x-delivery-limit": s.delivery_limit,
            "x-dead-letter-exchange": s.parked,
        }
        channel.queue_declare(s.queue_for(type_), durable=True, arguments=arguments)
        channel.queue_bind(s.queue_for(type_), s.prefix, routing_key=type_)
    for delay, name in zip(s.retry.delays, s.tier_names(), strict=True):
        channel.exchange_declare(name, exchange_type="fanout", durable=True)
        arguments = {
            **quorum,
            "x-message-ttl": round(delay * 1000),
            "x-dead-letter-exchange": s.prefix,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
        channel.queue_declare(name, durable=True, arguments=arguments)
        channel.queue_bind(name, name)


def delete_topology(channel: BlockingChannel, s: RabbitSettings) -> None:
    """Delete every queue and exchange of the prefix."""
    queues = [s.queue_for(t) for t in s.types] + s.tier_names() + [s.parked]
    for name in queues:
        channel.queue_delete(name)
    for name in [*s.tier_names(), s.parked, s.prefix]:
        channel.exchange_delete(name)


class Confirms:
    """Publisher confirms for a whole batch: publish everything, then wait for every confirm.

    pika's ``BlockingChannel.confirm_delivery`` waits for each message's confirm before the next
    publish (one broker fsync round trip per message). Here confirm mode is turned on at the
    channel implementation with our own ack/nack and return callbacks (the one place this module
    touches pika's ``_impl``), messages are published back to back, and
    :meth:`wait` processes I/O until every delivery tag is confirmed.
    """

    def __init__(self) -> None:
        self.selected = False
        self.next_tag = 1
        self.outstanding: set[int] = set()
        self.nacked: set[int] = set()
        self.returned: list[str] = []

    @classmethod
    def enable(cls, connection: Any, channel: BlockingChannel) -> Confirms:
        state = cls()
        impl = channel._impl
        impl.add_on_return_callback(state._on_return)
        impl.confirm_delivery(ack_nack_callback=state._on_confirm, callback=state._on_selected)
        deadline = time.monotonic() + 30
        while not state.selected:
            if time.monotonic() > deadline:
                raise TransportError("broker did not enable publisher confirms within 30 s")
            connection.process_data_events(time_limit=0.05)
        return state

    def _on_selected(self, _frame: Any) -> None:
        self.selected = True

    def _on_return(self, _channel: Any, _method: Any, properties: Any, _body: bytes) -> None:
        self.returned.append(properties.message_id or "?")

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        tag = method.delivery_tag
        tags = {t for t in self.outstanding if t <= tag} if method.multiple else {tag}
        self.outstanding -= tags
        if method.NAME == "Basic.Nack":
            self.nacked |= tags

    def sent(self) -> None:
        self.outstanding.add(self.next_tag)
        self.next_tag += 1

    def wait(self, connection: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.outstanding:
            if time.monotonic() > deadline:
                raise PublishFailed(
                    f"{len(self.outstanding)} message(s) not confirmed within {timeout:.0f} s"
                )
            connection.process_data_events(time_limit=0.05)


def properties(envelope: Envelope, headers: dict[str, str]) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type="application/json",
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=envelope.message_id,
        correlation_id=envelope.correlation_id,
        type=envelope.type,
        timestamp=int(envelope.timestamp.timestamp()),
        headers=headers,
    )


def str_headers(raw: dict[str, Any] | None) -> dict[str, str]:
    """Keep the string-valued headers (ours); decode bytes; note a broker dead-lettering."""
    headers: dict[str, str] = {}
    for key, value in (raw or {}).items():
        if key.startswith(BROKER_HEADERS):
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str | int) and not isinstance(value, bool):
            headers[key] = str(value)
    if raw and "x-death" in raw and "x-park-reason" not in headers:
        deaths = raw["x-death"]
        reason = deaths[0].get("reason", "") if deaths else ""
        if isinstance(reason, bytes):
            reason = reason.decode()
        if reason == "delivery_limit":
            headers["x-park-reason"] = "delivery_limit"
    return headers
