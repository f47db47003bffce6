"""Store fixtures: a migrated SQLite database per test (copied from one migrated template),
an anchor witness in the test's directory, and the mock TSA reached through ``requests``."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import responses
from sqlalchemy import Engine, text

from gateway.evidence_tsa import HttpTimeStamper
from gateway.keys import KeyStore
from gateway.store import make_engine, upgrade
from gateway.store.anchors import FileWitness
from gateway.store.timestamps import TsaTrust
from mocks.framework import register_responses
from mocks.settings import MockSettings
from mocks.tsa.app import TsaMock
from mocks.tsa.certs import TsaIdentity, create_identity, save

TSA_URL = "http://tsa.test/tsa"


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


@pytest.fixture(scope="session")
def tsa_identity() -> TsaIdentity:
    """The mock TSA's root and certificate (made once per test session)."""
    return create_identity()


@pytest.fixture
def tsa_dir(tmp_path: Path, tsa_identity: TsaIdentity) -> Path:
    """A directory holding the mock TSA's key and its PEM bundle ``tsa.pem``."""
    directory = tmp_path / "tsa"
    save(tsa_identity, directory)
    return directory


@pytest.fixture
def tsa_mock(tsa_dir: Path, tsa_identity: TsaIdentity) -> TsaMock:
    return TsaMock(MockSettings(tsa_directory=str(tsa_dir)), identity=tsa_identity)


@pytest.fixture
def stamper(tsa_mock: TsaMock, tsa_dir: Path) -> Iterator[HttpTimeStamper]:
    """The gateway's TSA client, talking to the mock TSA over ``requests`` (in-process)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        register_responses(rsps, TSA_URL, tsa_mock)
        yield HttpTimeStamper(TSA_URL, tsa_dir / "tsa.pem", timeout_seconds=2)


@pytest.fixture
def tsa_trust(tsa_dir: Path) -> TsaTrust:
    return TsaTrust.from_file(tsa_dir / "tsa.pem")


@pytest.fixture
def witness(tmp_path: Path) -> FileWitness:
    return FileWitness(tmp_path / "anchors")
