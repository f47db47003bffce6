"""Engines and migrations: SQLite settings, Alembic upgrade, metadata == the head revision."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from gateway.domain.errors import ConfigError
from gateway.store import current_revision, make_engine, upgrade
from gateway.store.db import MIGRATIONS_DIR
from gateway.store.schema import metadata


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_upgrade_reaches_head_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'gateway.db'}"
    upgrade(url)
    upgrade(url)
    engine = make_engine(url)
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables
    engine.dispose()


def test_the_head_revision_matches_the_runtime_metadata(tmp_path: Path) -> None:
    """Every table the code uses (the store's one metadata, the embedded queue's table
    included) is what the migrations make."""
    url = f"sqlite:///{tmp_path / 'g.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert [d for d in diffs if d[0] != "remove_table" or d[1].name != "alembic_version"] == []


def test_the_first_revision_id_is_0001_for_later_revisions_to_build_on() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    base = ScriptDirectory.from_config(config).get_revision("0001")
    assert base is not None and base.down_revision is None


def test_sqlite_runs_in_wal_with_busy_timeout_and_foreign_keys(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


@pytest.mark.parametrize("url", ["mysql://x@y/z", "not a url"])
def test_unsupported_database_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match=r"database\.url"):
        make_engine(url)


def test_a_long_read_does_not_block_a_writer_on_sqlite(engine: Engine) -> None:
    from gateway.store import AuditTrail, read_tx

    trail = AuditTrail(engine)
    trail.record("ops", "replay", "m-1", "first")
    with read_tx(engine) as reader:
        assert reader.execute(text("SELECT count(*) FROM audit")).scalar() == 1
        started = time.perf_counter()
        trail.record("ops", "replay", "m-2", "second")  # would wait 30 s on a write lock
        assert time.perf_counter() - started < 2
        assert reader.execute(text("SELECT count(*) FROM audit")).scalar() == 1  # snapshot
    assert len(trail.list()) == 2
