"""The RabbitMQ transport (pika ``BlockingConnection``); pika types never leave it.

Wire details (settings, topology declaration, batched confirms, header conversion) live in
:mod:`gateway.messaging.rabbitmq_wire`.

Topology (``prefix`` defaults to ``tthc``; tests use a unique one):
- topic exchange ``{prefix}``; for every message type a durable quorum queue
  ``{prefix}.{type}`` bound with routing key = type;
- delayed retry tiers: per tier a fanout exchange and a quorum queue ``{prefix}.retry.{label}``
  (e.g. ``5s``, ``30s``, ``5m``, ``30m``) with a per-queue TTL that dead-letters back to
  ``{prefix}``; the message keeps its routing key (the type), so it returns to its own queue;
- ``{prefix}.parked``: a fanout exchange and a durable quorum queue. Type queues also dead-letter
  to it when a message exceeds the quorum ``x-delivery-limit`` (a message that kills every
  worker that touches it ends parked instead of looping).

Rules:
- Messages are persistent, published with ``mandatory`` on a channel in confirm mode; a nack,
  a return or a lost connection raises :class:`PublishFailed` (or :class:`Unroutable`).
- One connection per thread (pika is not thread-safe); a dead connection is replaced on the
  next call, with backoff, and the topology is declared again.
- ``url`` may name several nodes of a cluster, comma-separated: a connection tries them in
  order, so losing a node moves every connection to a surviving one (quorum queues keep
  their messages while a majority of nodes is up).
- Consumers use a bounded prefetch; a delivery is acked only after the handler returned and
  any retry/park copy is confirmed; on stop, prefetched but unhandled messages are returned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from gateway.domain.messages import Envelope
from gateway.messaging import codec
from gateway.messaging.consuming import apply_batch, run_single
from gateway.messaging.port import (
    BatchHandler,
    Delivery,
    Disposition,
    Handler,
    ParkedMessage,
    PublishFailed,
    TransportError,
    Unroutable,
)
from gateway.messaging.rabbitmq_wire import (
    Confirms,
    RabbitSettings,
    declare_topology,
    delete_topology,
    properties,
    str_headers,
    tier_label,
)

__all__ = ["RabbitSettings", "RabbitTransport", "broker_urls", "tier_label"]


def broker_urls(value: str) -> list[str]:
    """The node URLs in ``value`` (comma-separated); ValueError naming a bad one."""
    urls = [part.strip() for part in value.split(",") if part.strip()]
    if not urls:
        raise ValueError("broker url: no amqp:// or amqps:// URL given")
    for url in urls:
        if not url.startswith(("amqp://", "amqps://")):
            raise ValueError(f"broker url: {url.split('@')[-1][:60]!r} is not amqp:// or amqps://")
    return urls

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_CONNECTION_ERRORS = (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError)


class _Local(threading.local):
    connection: Any = None
    channel: Any = None
    confirms: Any = None


class RabbitTransport:
    """:class:`gateway.messaging.port.Transport` on RabbitMQ."""

    def __init__(self, settings: RabbitSettings) -> None:
        self.settings = settings
        self.retry_policy = settings.retry
        self._local = _Local()
        self._params = []
        for url in broker_urls(settings.url):
            params = pika.URLParameters(url)
            params.heartbeat = settings.heartbeat
            params.blocked_connection_timeout = settings.blocked_connection_timeout
            self._params.append(params)

    # -- connections ------------------------------------------------------------------------

    def _connect(self) -> Any:
        """A new connection with the topology declared, retried with backoff."""
        backoff = self.settings.connect_backoff
        last: Exception | None = None
        for attempt in range(self.settings.connect_attempts):
            try:
                connection = pika.BlockingConnection(self._params)
                channel = connection.channel()
                declare_topology(channel, self.settings)
                channel.close()
                return connection
            except _CONNECTION_ERRORS as exc:
                last = exc
                delay = backoff[min(attempt, len(backoff) - 1)]
                log.warning("broker connection failed (%s); retrying in %.1fs", exc, delay)
                time.sleep(delay)
        raise TransportError(
            f"broker unreachable after {self.settings.connect_attempts} attempts: {last}"
        )

    def _publish_channel(self) -> BlockingChannel:
        local = self._local
        if local.connection is None or not local.connection.is_open:
            local.connection = self._connect()
            local.channel = None
        if local.channel is None or not local.channel.is_open:
            fresh = local.connection.channel()
            local.confirms = Confirms.enable(local.connection, fresh)
            local.channel = fresh
        channel: BlockingChannel = local.channel
        return channel

    def _renew_channel(self) -> None:
        """Close the publishing channel (not the connection); the next publish opens one."""
        local = self._local
        channel, local.channel = local.channel, None
        try:
            if channel is not None and channel.is_open:
                channel.close()
        except (*_CONNECTION_ERRORS, pika.exceptions.AMQPError):
            pass

    def _drop(self) -> None:
        local = self._local
        try:
            if local.connection is not None and local.connection.is_open:
                local.connection.close()
        except _CONNECTION_ERRORS:
            pass
        local.connection = None
        local.channel = None

    # -- topology ---------------------------------------------------------------------------

    def _retrying(self, operation: Callable[[], _T]) -> _T:
        """Run a management operation; on a dead connection reconnect once and run it again."""
        try:
            return operation()
        except _CONNECTION_ERRORS:
            self._drop()
            try:
                return operation()
            except _CONNECTION_ERRORS as exc:
                self._drop()
                raise TransportError(f"broker operation failed: {exc}") from exc

    def declare(self) -> None:
        self._retrying(lambda: declare_topology(self._publish_channel(), self.settings))

    def ping(self) -> None:
        """A passive declare of the parked queue: the connection works, the topology exists."""
        self._retrying(
            lambda: self._publish_channel().queue_declare(self.settings.parked, passive=True)
        )

    def delete_topology(self) -> None:
        """Remove every queue and exchange of this prefix (tests and decommissioning)."""
        self._retrying(lambda: delete_topology(self._publish_channel(), self.settings))

    # -- publishing -------------------------------------------------------------------------

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        messages = [
            (self.settings.prefix, env.type, env, codec.envelope_headers(env)) for env in envelopes
        ]
        self._publish_raw(messages)

    def _publish_raw(self, messages: Sequence[tuple[str, str, Envelope, dict[str, str]]]) -> None:
        """Publish all, then wait for all confirms; any nack or return fails the batch."""
        if not messages:
            return
        try:
            channel = self._publish_channel()
            confirms: Confirms = self._local.confirms
            confirms.nacked.clear()
            confirms.returned.clear()
            for exchange, routing_key, envelope, headers in messages:
                confirms.sent()  # before publishing: the publish call may already read its ack
                channel.basic_publish(
                    exchange,
                    routing_key,
                    envelope.body,
                    properties=properties(envelope, headers),
                    mandatory=True,
                )
            confirms.wait(self._local.connection, self.settings.confirm_timeout)
        except _CONNECTION_ERRORS as exc:
            self._drop()
            raise PublishFailed(f"broker connection lost while publishing: {exc}") from exc
        except TransportError:
            self._drop()
            raise
        if confirms.returned:
            raise Unroutable(
                f"broker returned {len(confirms.returned)} message(s) as unroutable: no queue "
                f"bound for their type (first: message {confirms.returned[0]})"
            )
        if confirms.nacked:
            # a quorum queue's client state lives in the channel: after a leader change a
            # channel can go on refusing one queue's messages; the next publish opens a new one
            self._renew_channel()
            raise PublishFailed(f"broker refused (nack) {len(confirms.nacked)} message(s)")

    def _republish(self, delivery: Delivery, disposition: Disposition) -> None:
        """Send a delivery to its next retry tier, back to a tier (defer), or park it; confirmed."""
        when = datetime.now(UTC)
        policy = self.retry_policy
        envelope = delivery.envelope
        error = disposition.error or disposition.reason
        tier = policy.tier_for(disposition, delivery.attempt)  # the worker's due_at uses it too
        if tier is not None and disposition.action == "defer":
            exchange = self.settings.tier_names()[tier]
            headers = codec.defer_headers(delivery, error, when, spent=disposition.spent)
        elif tier is not None:  # a retry below max_attempts
            exchange = self.settings.tier_names()[tier]
            headers = codec.retry_headers(delivery, error, when)
        else:
            reason = disposition.reason if disposition.action == "park" else "attempts_exhausted"
            exchange = self.settings.parked
            headers = codec.park_headers(delivery, reason, error, when)
        self._publish_raw([(exchange, envelope.type, envelope, headers)])

    def park(self, delivery: Delivery, reason: str, error: str) -> None:
        self._republish(delivery, Disposition.park(reason, error))

    # -- consuming --------------------------------------------------------------------------

    def consume(self, types: Sequence[str], handler: Handler, *, stop: threading.Event) -> None:
        self.consume_batches(types, run_single(handler), stop=stop, max_batch=1)

    def consume_batches(
        self,
        types: Sequence[str],
        handler: BatchHandler,
        *,
        stop: threading.Event,
        max_batch: int = 100,
    ) -> None:
        unknown = sorted(set(types) - set(self.settings.types))
        if unknown:
            raise ValueError(f"consume: no queue for message type(s) {unknown}")
        failures = 0
        try:
            while not stop.is_set():
                try:
                    self._consume_session(types, handler, stop, max_batch)
                    failures = 0
                except (*_CONNECTION_ERRORS, TransportError) as exc:
                    self._drop()
                    backoff = self.settings.connect_backoff
                    delay = backoff[min(failures, len(backoff) - 1)]
                    failures += 1
                    log.warning("consumer lost the broker (%s); reconnecting in %.1fs", exc, delay)
                    stop.wait(delay)
        finally:
            self._drop()

    def _consume_session(
        self, types: Sequence[str], handler: BatchHandler, stop: threading.Event, max_batch: int
    ) -> None:
        self._publish_channel()  # connects and declares
        connection = self._local.connection
        channel = connection.channel()
        channel.basic_qos(prefetch_count=self.settings.prefetch)
        pending: list[tuple[Any, Any, bytes, str]] = []
        for type_ in types:
            queue = self.settings.queue_for(type_)

            def on_message(_ch: Any, method: Any, props: Any, body: bytes, t: str = type_) -> None:
                pending.append((method, props, body, t))

            channel.basic_consume(queue, on_message)
        linger = self.settings.batch_linger
        while not stop.is_set():
            connection.process_data_events(time_limit=0.2)
            # linger briefly for a fuller batch: the store writes once per batch, not per message
            deadline = time.monotonic() + linger
            while pending and len(pending) < max_batch and time.monotonic() < deadline:
                connection.process_data_events(time_limit=max(0.0, deadline - time.monotonic()))
            while pending and not stop.is_set():
                batch = pending[:max_batch]
                del pending[:max_batch]
                try:
                    self._handle(channel, batch, handler)
                except (*_CONNECTION_ERRORS, TransportError):
                    raise
                except Exception:
                    log.exception("consumer: batch handler failed; %d returned", len(batch))
                    stop.wait(1.0)
        # stop: return what was prefetched but not handled, then close the channel
        if pending:
            channel.basic_nack(pending[-1][0].delivery_tag, multiple=True, requeue=True)
        channel.close()

    def _handle(
        self, channel: Any, batch: list[tuple[Any, Any, bytes, str]], handler: BatchHandler
    ) -> None:
        deliveries = []
        for method, props, body, queue_type in batch:
            deliveries.append(
                codec.decode_delivery(
                    message_id=props.message_id or "",
                    type_=props.type or method.routing_key,
                    correlation_id=props.correlation_id or "",
                    body=body,
                    headers=str_headers(props.headers),
                    queue=self.settings.queue_for(queue_type),
                    queue_type=queue_type,
                    redelivered=method.redelivered,
                )
            )
        last_tag = batch[-1][0].delivery_tag
        try:
            apply_batch(deliveries, handler, self._republish)
        except Exception:
            if channel.is_open:  # else the broker returns them when the connection is gone
                channel.basic_nack(last_tag, multiple=True, requeue=True)
            raise
        channel.basic_ack(last_tag, multiple=True)

    # -- parked messages --------------------------------------------------------------------

    def _scan_parked(self, limit: int, take: str | None) -> list[ParkedMessage]:
        """Read parked messages without ack; ack only the one taken; the rest return on close."""
        self._publish_channel()
        channel = self._local.connection.channel()
        found: list[ParkedMessage] = []
        try:
            while len(found) < limit:
                method, props, body = channel.basic_get(self.settings.parked, auto_ack=False)
                if method is None:
                    break
                headers = str_headers(props.headers)
                envelope = codec.envelope_from(
                    message_id=props.message_id or "",
                    type_=props.type or method.routing_key,
                    correlation_id=props.correlation_id or "",
                    body=body,
                    headers=headers,
                )
                parked = codec.parked_from(envelope, headers)
                if take is None:
                    found.append(parked)
                elif envelope.message_id == take:
                    channel.basic_ack(method.delivery_tag)
                    return [parked]
        finally:
            channel.close()
        return found

    def list_parked(self, limit: int = 100) -> list[ParkedMessage]:
        return self._retrying(lambda: self._scan_parked(limit, None))

    def take_parked(self, message_id: str) -> ParkedMessage | None:
        taken = self._retrying(lambda: self._scan_parked(1_000_000, message_id))
        return taken[0] if taken else None

    def close(self) -> None:
        self._drop()
