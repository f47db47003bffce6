"""Shared test fixtures: the real PostgreSQL and RabbitMQ servers.

Rule: an integration test asks for ``postgres_url`` or ``amqp_url``. When the server
does not answer, the test is skipped locally but FAILS in CI (``CI=true``): an
integration test never passes by not running.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

POSTGRES_URL = os.environ.get("TTHC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
AMQP_URL = os.environ.get("TTHC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url.replace("postgresql+psycopg", "postgresql"))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require_server(url: str, default_port: int, what: str) -> str:
    """Return ``url`` if the server answers; otherwise skip (locally) or fail (CI)."""
    if _answers(url, default_port):
        return url
    message = f"{what} at {urlsplit(url).hostname}:{urlsplit(url).port or default_port} does not answer"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI=true: integration tests must not skip)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return require_server(POSTGRES_URL, 5432, "PostgreSQL")


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return require_server(AMQP_URL, 5672, "RabbitMQ")


@contextmanager
def fresh_schema(postgres_url: str, *, prefix: str = "tthc_test", migrate: bool = True) -> Iterator[str]:
    """A PostgreSQL schema of its own (migrated unless told not to), dropped afterwards.

    Yields a URL whose connections use that schema (``search_path``), so tests and the
    processes they start never see each other's rows.
    """
    from gateway.store.db import upgrade

    schema = f"{prefix}_{secrets.token_hex(5)}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_url else "?"
    url = f"{postgres_url}{separator}options=-csearch_path%3D{schema}"
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A migrated schema of its own on the real PostgreSQL."""
    with fresh_schema(postgres_url) as url:
        yield url


def outbox_rows(engine: sa.Engine) -> int:
    """How many messages wait in the outbox (unpublished), without leasing them."""
    from gateway.store.schema import outbox

    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one())
