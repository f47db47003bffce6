"""PostgreSQL store fixtures: a fresh schema per test, migrated, dropped afterwards.

Each test gets its own schema (``tthc_store_<random>``) selected through the
connection's ``search_path``, so parallel runs never collide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.keys import KeyStore
from gateway.store import make_engine
from gateway.store.schema import APPEND_ONLY_TABLES


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def keystore(tmp_path: Path) -> KeyStore:
    return KeyStore.ensure(tmp_path / "keys", "ES256", timedelta(days=7))


@pytest.fixture
def tamper(pg_engine: Engine) -> Callable[..., None]:
    """Run SQL as an attacker with database access: append-only triggers disabled first."""

    def run(sql: str, **params: object) -> None:
        with pg_engine.begin() as connection:
            for table in APPEND_ONLY_TABLES:
                connection.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            result = connection.execute(sa.text(sql), params)
            assert result.rowcount >= 1, f"tampering matched nothing: {sql}"
            for table in APPEND_ONLY_TABLES:
                connection.execute(sa.text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))

    return run
