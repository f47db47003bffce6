"""Ops on RabbitMQ + PostgreSQL: a fresh PostgreSQL schema (random name, migrated, dropped
afterwards) and a RabbitMQ topology with a random prefix (deleted afterwards)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from gateway.keys import KeyStore
from gateway.messaging.port import RetryPolicy
from gateway.messaging.rabbitmq import RabbitSettings, RabbitTransport
from gateway.store import make_engine
from gateway.testing.scenario import Scenario

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
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
    return f"opsit{secrets.token_hex(4)}"


@pytest.fixture
def transport(amqp_url: str, prefix: str) -> Iterator[RabbitTransport]:
    rabbit = RabbitTransport(
        RabbitSettings(
            url=amqp_url, prefix=prefix, retry=RetryPolicy((0.2,), 2, budget_seconds=0.2)
        )
    )
    rabbit.declare()
    yield rabbit
    rabbit.delete_topology()
    rabbit.close()


@pytest.fixture
def scenario(engine: Engine, transport: RabbitTransport, keystore: KeyStore) -> Iterator[Scenario]:
    running = Scenario.start(engine, transport, keystore, checkpoint_every=5)
    yield running
    running.close()


@pytest.fixture
def cli_env(
    pg_url: str, amqp_url: str, key_dir: Path, tmp_path: Path, prefix: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTHC_")}
    env.update(
        {
            "TTHC_CONFIG_DIR": str(REPO / "config"),
            "TTHC_ENV": "demo",
            "TTHC_VAR_DIR": str(tmp_path / "var"),
            "TTHC_DATABASE__URL": pg_url,
            "TTHC_BROKER__URL": amqp_url,
            "TTHC_KEYS__DIRECTORY": str(key_dir),
            "TTHC_BROKER__TOPOLOGY_PREFIX": prefix,
            "TTHC_LOGGING__FORMAT": "json",
            "TTHC_LOGGING__LEVEL": "WARNING",
        }
    )
    return env
