"""Shared test fixtures: the real PostgreSQL and RabbitMQ servers.

Rule: an integration test asks for ``postgres_url`` or ``amqp_url``. When the server
does not answer, the test is skipped locally but FAILS in CI (``CI=true``): an
integration test never passes by not running.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

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
