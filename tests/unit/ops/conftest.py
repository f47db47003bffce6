"""Ops fixtures: a migrated SQLite store, a key store, the embedded transport (unique
prefix, short retry delays) and a :class:`gateway.testing.scenario.Scenario` over them."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from gateway.keys import KeyStore
from gateway.messaging.embedded import EmbeddedTransport
from gateway.messaging.port import RetryPolicy
from gateway.store import make_engine, upgrade
from gateway.testing.scenario import Scenario

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def ops_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ops-template") / "store.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_url(ops_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "store.sqlite"
    shutil.copyfile(ops_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def keystore(key_dir: Path) -> KeyStore:
    return KeyStore.ensure(key_dir, "ES256", timedelta(days=90))


@pytest.fixture
def prefix() -> str:
    return f"opstest{secrets.token_hex(4)}"


@pytest.fixture
def transport(engine: Engine, prefix: str) -> EmbeddedTransport:
    return EmbeddedTransport(
        engine,
        prefix=prefix,
        retry=RetryPolicy((0.05,), 2, budget_seconds=0.05),
        poll_interval=0.01,
    )


@pytest.fixture
def scenario(
    engine: Engine, transport: EmbeddedTransport, keystore: KeyStore
) -> Iterator[Scenario]:
    running = Scenario.start(engine, transport, keystore, checkpoint_every=5)
    yield running
    running.close()


@pytest.fixture
def cli_env(db_url: str, key_dir: Path, tmp_path: Path, prefix: str) -> dict[str, str]:
    """Environment for running ``tthc-gateway`` against this test's store and keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTHC_")}
    env.update(
        {
            "TTHC_CONFIG_DIR": str(REPO / "config"),
            "TTHC_ENV": "demo",
            "TTHC_VAR_DIR": str(tmp_path / "var"),
            "TTHC_DATABASE__URL": db_url,
            "TTHC_KEYS__DIRECTORY": str(key_dir),
            "TTHC_BROKER__TOPOLOGY_PREFIX": prefix,
            "TTHC_LOGGING__FORMAT": "json",
            "TTHC_LOGGING__LEVEL": "WARNING",
        }
    )
    return env
