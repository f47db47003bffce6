"""Backends for the messaging tests: embedded on SQLite, embedded on PostgreSQL, RabbitMQ + PostgreSQL.

Every backend gets its own database (a fresh SQLite file, or a PostgreSQL schema with a random
name) and its own topology prefix, and removes them afterwards, so parallel runs never collide.
Retry delays are short (200 ms, 400 ms) and attempts few (3) so the suite stays fast.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from gateway.messaging.embedded import EmbeddedTransport
from gateway.messaging.port import RetryPolicy, Transport
from gateway.messaging.rabbitmq import RabbitSettings, RabbitTransport
from gateway.testing import LocalStack, local_stack

FAST_RETRY = RetryPolicy(delays=(0.2, 0.4), max_attempts=3)


def schema_url(base: str, schema: str) -> str:
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options=-csearch_path%3D{schema}"


@dataclass
class Backend:
    """One place to run messaging: a migrated store and a way to open transports on it."""

    name: str
    database_url: str
    stack: LocalStack
    prefix: str
    amqp_url: str | None = None
    opened: list[Transport] = field(default_factory=list)

    @property
    def broker(self) -> bool:
        return self.amqp_url is not None

    def transport(self, retry: RetryPolicy = FAST_RETRY, **options: Any) -> Transport:
        transport: Transport
        if self.amqp_url is not None:
            settings = RabbitSettings(url=self.amqp_url, prefix=self.prefix, retry=retry, **options)
            transport = RabbitTransport(settings)
        else:
            options.setdefault("lease", timedelta(seconds=2))
            options.setdefault("poll_interval", 0.02)
            transport = EmbeddedTransport(
                self.stack.engine, prefix=self.prefix, retry=retry, **options
            )
        transport.declare()
        self.opened.append(transport)
        return transport


def _postgres_schema(postgres_url: str) -> Iterator[str]:
    schema = f"msg_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema_url(postgres_url, schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


BACKENDS = [
    "sqlite-embedded",
    pytest.param("postgres-embedded", marks=pytest.mark.integration),
    pytest.param("postgres-rabbitmq", marks=pytest.mark.integration),
]


def make_backend(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> Iterator[Backend]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    amqp_url = request.getfixturevalue("amqp_url") if name.endswith("rabbitmq") else None
    if name.startswith("postgres"):
        schemas = _postgres_schema(request.getfixturevalue("postgres_url"))
        url = next(schemas)
    else:
        schemas = None
        url = f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    stack = local_stack(tmp_path, url)
    backend = Backend(name, url, stack, prefix, amqp_url)
    try:
        yield backend
    finally:
        rabbits = [t for t in backend.opened if isinstance(t, RabbitTransport)]
        if rabbits:
            rabbits[0].delete_topology()
        for transport in backend.opened:
            transport.close()
        stack.engine.dispose()
        if schemas is not None:
            next(schemas, None)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request, request.param, tmp_path)


@pytest.fixture(params=[pytest.param("postgres-rabbitmq", marks=pytest.mark.integration)])
def rabbit_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request, request.param, tmp_path)


Factory = Callable[..., Transport]
