"""Store fixtures: a migrated SQLite database per test (copied from one migrated template)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from gateway.keys import KeyStore
from gateway.store import make_engine, upgrade


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "store.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_path(migrated_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    shutil.copyfile(migrated_template, path)
    return path


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{db_path}")
    yield engine
    engine.dispose()


@pytest.fixture
def keystore(tmp_path: Path) -> KeyStore:
    return KeyStore.ensure(tmp_path / "keys", "ES256", timedelta(days=7))


@pytest.fixture
def tamper(engine: Engine) -> Callable[..., None]:
    """Run SQL as an attacker with database access: append-only triggers dropped first."""

    def run(sql: str, **params: object) -> None:
        with engine.begin() as connection:
            names = connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).scalars()
            for name in list(names):
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            result = connection.execute(text(sql), params)
            assert result.rowcount >= 1, f"tampering matched nothing: {sql}"

    return run
