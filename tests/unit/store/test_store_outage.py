"""Which errors mean "the store is unavailable", the outage log, and driver errors wrapped."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Column, MetaData, String, Table, select
from sqlalchemy import exc as sa_exc

from gateway.domain.errors import Conflict
from gateway.store.db import driver_write_tx, make_engine, upgrade
from gateway.store.outage import OutageLog, describe, is_store_unavailable, ping
from gateway.store.prepared import Prepared
from gateway.store.schema import messages

TEXT = 'connection to server at "127.0.0.1", port 5432 failed: Connection refused'


def caused(outer: BaseException, inner: BaseException) -> BaseException:
    """``raise outer from inner``."""
    outer.__cause__ = inner
    return outer


def during(outer: BaseException, inner: BaseException) -> BaseException:
    """``outer`` raised while handling ``inner`` (the implicit context)."""
    outer.__context__ = inner
    return outer


UNAVAILABLE: dict[str, BaseException] = {
    "sa OperationalError (psycopg)": sa_exc.OperationalError(
        "SELECT 1", {}, psycopg.OperationalError(TEXT)
    ),
    "sa InterfaceError": sa_exc.InterfaceError("SELECT 1", {}, psycopg.InterfaceError("closed")),
    "sa DBAPIError invalidated": sa_exc.DBAPIError(
        "COMMIT", {}, psycopg.DatabaseError("lost"), connection_invalidated=True
    ),
    "pool timeout": sa_exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"),
    "disconnection": sa_exc.DisconnectionError("pre-ping failed"),
    "raw psycopg OperationalError": psycopg.OperationalError(TEXT),
    "raw psycopg AdminShutdown": psycopg.errors.AdminShutdown("terminating connection"),
    "raw psycopg InterfaceError": psycopg.InterfaceError("the connection is closed"),
    "sqlite locked": sa_exc.OperationalError(
        "BEGIN", {}, sqlite3.OperationalError("database is locked")
    ),
    "sqlite unopenable": sqlite3.OperationalError("unable to open database file"),
    "a wrapper raised from one": caused(
        RuntimeError("flush failed"), psycopg.OperationalError(TEXT)
    ),
    "raised while handling one": during(
        ValueError("abandon failed"), psycopg.OperationalError(TEXT)
    ),
}

AVAILABLE: dict[str, BaseException] = {
    "integrity": sa_exc.IntegrityError("INSERT", {}, psycopg.IntegrityError("duplicate")),
    "programming": sa_exc.ProgrammingError("SELECT", {}, psycopg.ProgrammingError("syntax")),
    "sqlite no such table": sa_exc.OperationalError(
        "SELECT", {}, sqlite3.OperationalError("no such table: messages")
    ),
    "raw sqlite no such column": sqlite3.OperationalError("no such column: x"),
    "a domain error from one": caused(
        Conflict("already confirmed"), psycopg.OperationalError(TEXT)
    ),
    "plain": RuntimeError("boom"),
    "plain value error": ValueError("x"),
}


@pytest.mark.parametrize("error", UNAVAILABLE.values(), ids=list(UNAVAILABLE))
def test_these_mean_the_store_is_unavailable(error: BaseException) -> None:
    assert is_store_unavailable(error)


@pytest.mark.parametrize("error", AVAILABLE.values(), ids=list(AVAILABLE))
def test_these_do_not(error: BaseException) -> None:
    assert not is_store_unavailable(error)


def test_a_suppressed_context_is_not_looked_at() -> None:
    try:
        try:
            raise psycopg.OperationalError(TEXT)
        except psycopg.OperationalError:
            raise ValueError("not found") from None
    except ValueError as error:
        assert not is_store_unavailable(error)


def test_a_cycle_of_causes_ends() -> None:
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__cause__, second.__cause__ = second, first
    assert not is_store_unavailable(first)


def test_describe_is_the_type_and_first_line() -> None:
    error = psycopg.OperationalError("consuming input failed\n\tThis probably means ...")
    assert describe(error) == "OperationalError: consuming input failed"
    assert describe(RuntimeError()) == "RuntimeError"


# ---- the outage log --------------------------------------------------------------------


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_an_outage_is_logged_when_it_starts_and_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("tests.outage")
    outage = OutageLog("relay", log, backoff=(0.1, 0.2, 0.5))
    down = sa_exc.OperationalError("SELECT 1", {}, psycopg.OperationalError(TEXT))
    with caplog.at_level(logging.DEBUG, logger="tests.outage"):
        delays = [outage.failed(down) for _ in range(50)]
        assert outage.down and outage.failures == 50
        outage.recovered()
        outage.recovered()  # nothing more: the streak is over
    assert delays[:4] == [0.1, 0.2, 0.5, 0.5] and max(delays) == 0.5
    warnings = records(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "relay: the store is unavailable" in warnings[0] and "OperationalError" in warnings[0]
    assert len(records(caplog, logging.DEBUG)) == 49
    infos = records(caplog, logging.INFO)
    assert len(infos) == 1 and "relay: recovered" in infos[0] and "50 failed attempts" in infos[0]
    assert not outage.down


def test_a_new_kind_of_failure_and_a_long_outage_are_logged_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("tests.outage")
    outage = OutageLog("jobs", log, remind_every=0.0)
    with caplog.at_level(logging.INFO, logger="tests.outage"):
        outage.failed(psycopg.OperationalError(TEXT))
        outage.failed(psycopg.OperationalError(TEXT))  # a reminder (remind_every=0)
        outage.failed(RuntimeError("broker"))  # another kind
    warnings = records(caplog, logging.WARNING)
    assert len(warnings) == 3
    assert "still failing" in warnings[1]
    assert "jobs: failed (RuntimeError: broker)" in warnings[2]


def test_an_outage_log_needs_a_backoff() -> None:
    with pytest.raises(ValueError, match="backoff"):
        OutageLog("x", logging.getLogger("x"), backoff=())


# ---- driver errors are SQLAlchemy's ----------------------------------------------------


def test_driver_write_tx_raises_sqlalchemys_error_when_the_database_cannot_be_opened(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}")  # a directory: SQLite cannot open it
    try:
        with pytest.raises(sa_exc.OperationalError) as raised:
            with driver_write_tx(engine):
                pass
        assert isinstance(raised.value.orig, sqlite3.OperationalError)
        assert is_store_unavailable(raised.value)
        with pytest.raises(sa_exc.OperationalError):
            ping(engine)
    finally:
        engine.dispose()


def test_driver_write_tx_rolls_back_and_keeps_the_callers_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    statement = Prepared(select(messages.c.id).limit(1))
    try:
        with pytest.raises(KeyError):
            with driver_write_tx(engine) as transaction:
                statement.execute(transaction, {})
                raise KeyError("the caller's")
        ping(engine)  # the connection went back to the pool in a usable state
        with driver_write_tx(engine) as transaction:
            assert statement.execute(transaction, {}) == []
    finally:
        engine.dispose()


def test_prepared_statement_errors_are_sqlalchemys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    missing = Table("no_such_table", MetaData(), Column("id", String))
    statement = Prepared(select(missing.c.id))
    try:
        with pytest.raises(sa_exc.OperationalError) as raised:
            with driver_write_tx(engine) as transaction:
                statement.execute(transaction, {})
        assert isinstance(raised.value.orig, sqlite3.OperationalError)
        assert not raised.value.connection_invalidated
        assert not is_store_unavailable(raised.value)  # "no such table" is a bug, not an outage
    finally:
        engine.dispose()
