"""Prepared statements read and write exactly what Core does, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from gateway.store.db import UTCDateTime, driver_write_tx, make_engine, write_tx
from gateway.store.prepared import Prepared
from tests.conftest import fresh_schema

metadata = sa.MetaData()
things = sa.Table(
    "things",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("at", UTCDateTime, nullable=True),
    sa.Column("headers", sa.JSON, nullable=True),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.Column("count", sa.Integer, nullable=False, default=0),
)
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("thing_id", sa.String(32), nullable=False),
)

INSERT = Prepared(things.insert())
BY_ID = Prepared(
    sa.select(things.c.at, things.c.headers, things.c.body, things.c.count).where(
        things.c.id == sa.bindparam("b_id")
    )
)
BUMP_FRESH = Prepared(
    sa.update(things)
    .where(things.c.id == sa.bindparam("b_id"), things.c.count == 0)  # a literal bound
    .values(count=sa.bindparam("b_count"), at=sa.bindparam("b_at"))
    .returning(things.c.id, things.c.at)
)
AT = datetime(2026, 11, 27, 5, 30, 1, 123456, tzinfo=UTC)
ROW = {"id": "a", "at": AT, "headers": {"x": "ý", "n": [1, 2]}, "body": b"\x00\xff", "count": 0}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'prepared.db'}")
        metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    postgres_url = request.getfixturevalue("postgres_url")
    with fresh_schema(postgres_url, migrate=False) as url:
        engine = make_engine(url)
        metadata.create_all(engine)
        yield engine
        engine.dispose()


def core_row(engine: sa.Engine, thing_id: str) -> tuple[object, ...]:
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(things.c.at, things.c.headers, things.c.body, things.c.count).where(
                things.c.id == thing_id
            )
        ).one()
    return tuple(row)


def test_an_insert_writes_what_core_reads(engine: sa.Engine) -> None:
    with write_tx(engine) as connection:
        assert INSERT.execute(connection, ROW) == []
    assert core_row(engine, "a") == (AT, ROW["headers"], ROW["body"], 0)


def test_a_select_reads_what_core_wrote(engine: sa.Engine) -> None:
    with write_tx(engine) as connection:
        connection.execute(things.insert(), ROW)
    with write_tx(engine) as connection:
        row = BY_ID.first(connection, {"b_id": "a"})
        assert BY_ID.first(connection, {"b_id": "nobody"}) is None
        assert BY_ID.scalar(connection, {"b_id": "nobody"}) is None
    assert row == (AT, ROW["headers"], ROW["body"], 0)
    assert row is not None and row[0].tzinfo is UTC  # aware UTC, as UTCDateTime promises


def test_nulls_pass_through_both_ways(engine: sa.Engine) -> None:
    empty = {"id": "n", "at": None, "headers": None, "body": None, "count": 3}
    with write_tx(engine) as connection:
        INSERT.execute(connection, empty)
        assert BY_ID.first(connection, {"b_id": "n"}) == (None, None, None, 3)
    assert core_row(engine, "n") == (None, None, None, 3)


def test_execute_many_writes_every_row(engine: sa.Engine) -> None:
    rows = [{**ROW, "id": f"m{i}", "count": i} for i in range(5)]
    with write_tx(engine) as connection:
        INSERT.execute_many(connection, rows)
        INSERT.execute_many(connection, [])  # nothing to do
        Prepared(events.insert()).execute_many(connection, [{"thing_id": "m1"}] * 3)
    assert [core_row(engine, f"m{i}")[3] for i in range(5)] == [0, 1, 2, 3, 4]
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 3


def test_an_update_returns_its_rows_once_its_condition_holds(engine: sa.Engine) -> None:
    later = AT + timedelta(hours=1)
    with write_tx(engine) as connection:
        INSERT.execute(connection, ROW)
        first = BUMP_FRESH.execute(connection, {"b_id": "a", "b_count": 7, "b_at": later})
        again = BUMP_FRESH.execute(connection, {"b_id": "a", "b_count": 9, "b_at": later})
    assert first == [("a", later)]
    assert again == []  # count is no longer 0: the literal in the WHERE was bound
    assert core_row(engine, "a")[3] == 7


def test_a_duplicate_key_raises_sqlalchemys_integrity_error(engine: sa.Engine) -> None:
    with write_tx(engine) as connection:
        INSERT.execute(connection, ROW)
    with pytest.raises(IntegrityError) as caught, write_tx(engine) as connection:
        INSERT.execute(connection, ROW)
    assert "things" in str(caught.value).lower()


def test_a_missing_parameter_is_named(engine: sa.Engine) -> None:
    with pytest.raises(KeyError, match="b_id"), write_tx(engine) as connection:
        BY_ID.execute(connection, {})


def test_an_insert_needing_python_defaults_is_refused(engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match=r"missing \['count'\]"), write_tx(engine) as connection:
        INSERT.execute(connection, {"id": "d"})


def test_expanding_parameters_are_refused(engine: sa.Engine) -> None:
    in_list = Prepared(
        sa.select(things.c.id).where(things.c.id.in_(sa.bindparam("ids", expanding=True)))
    )
    with pytest.raises(ValueError, match="expanding"), write_tx(engine) as connection:
        in_list.execute(connection, {"ids": ["a"]})


def test_execute_many_cannot_return_rows(engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="cannot return rows"), write_tx(engine) as connection:
        BUMP_FRESH.execute_many(connection, [{"b_id": "a", "b_count": 1, "b_at": AT}])


def test_a_statement_runs_in_the_callers_transaction(engine: sa.Engine) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), write_tx(engine) as connection:
        INSERT.execute(connection, ROW)
        raise Boom
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(things)).scalar() == 0


def test_a_driver_transaction_commits_what_prepared_statements_wrote(engine: sa.Engine) -> None:
    with driver_write_tx(engine) as transaction:
        INSERT.execute_many(transaction, [ROW, {**ROW, "id": "b"}])
        assert BY_ID.first(transaction, {"b_id": "b"}) == (AT, ROW["headers"], ROW["body"], 0)
    assert core_row(engine, "a") == core_row(engine, "b") == (AT, ROW["headers"], ROW["body"], 0)


def test_a_driver_transaction_rolls_back_on_error(engine: sa.Engine) -> None:
    with driver_write_tx(engine) as transaction:
        INSERT.execute(transaction, ROW)
    with pytest.raises(IntegrityError), driver_write_tx(engine) as transaction:
        INSERT.execute(transaction, {**ROW, "id": "fresh"})
        INSERT.execute(transaction, ROW)  # a duplicate: the whole transaction goes
    with engine.connect() as connection:
        ids = connection.execute(sa.select(things.c.id)).scalars().all()
    assert ids == ["a"]
    with driver_write_tx(engine) as transaction:  # the pooled connection is usable again
        INSERT.execute(transaction, {**ROW, "id": "after"})
    assert core_row(engine, "after")[3] == 0
