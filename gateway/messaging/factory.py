"""Build the configured transport: RabbitMQ when ``broker.url`` is set, else the embedded queue.

For the composition root; the only place that maps the ``broker`` configuration section onto a
transport's settings.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from gateway.messaging.embedded import EmbeddedTransport
from gateway.messaging.port import RetryPolicy, Transport
from gateway.messaging.rabbitmq import RabbitSettings, RabbitTransport
from gateway.settings_model import BrokerSettings


def retry_policy(broker: BrokerSettings) -> RetryPolicy:
    return RetryPolicy(
        delays=tuple(broker.retry_delays_seconds),
        max_attempts=broker.max_attempts,
        budget_seconds=broker.retry_budget_seconds,
    )


def make_transport(
    broker: BrokerSettings, engine: Engine, *, lease: timedelta = timedelta(minutes=5)
) -> Transport:
    """The transport for ``broker`` (``engine`` holds the embedded queue when there is no URL).

    ``lease`` is how long an embedded-queue consumer holds a message before it is delivered
    again (it should exceed the longest handler run).
    """
    if broker.embedded:
        return EmbeddedTransport(
            engine, prefix=broker.topology_prefix, retry=retry_policy(broker), lease=lease
        )
    return RabbitTransport(
        RabbitSettings(
            url=broker.url.get_secret_value(),
            prefix=broker.topology_prefix,
            retry=retry_policy(broker),
            prefetch=broker.prefetch,
            heartbeat=broker.heartbeat_seconds,
            blocked_connection_timeout=broker.blocked_connection_timeout_seconds,
        )
    )
