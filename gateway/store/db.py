"""Database engines, transactions and migrations for the store.

What it is for: one place that knows the two supported databases and their quirks,
so the store modules write plain SQLAlchemy 2 Core.

Rules:
- SQLite (the default, a file under ``var/``) runs in WAL mode with a busy timeout,
  ``synchronous=NORMAL`` and foreign keys on. Write transactions start with
  ``BEGIN IMMEDIATE`` (:func:`write_tx`) so two writers queue on the busy timeout
  instead of failing on a lock upgrade; read transactions (:func:`read_tx`) start with
  a plain ``BEGIN`` and never block writers (WAL).
- PostgreSQL is reached as ``postgresql+psycopg://``; transactions are READ COMMITTED;
  the store's concurrency rules (ledger claims, outbox leases) rely on single-row
  conditional UPDATEs and ``ON CONFLICT DO NOTHING``, which are atomic there.
- The database going away is an error of the call that met it, never of the engine: pooled
  connections are pinged before use (a dead one is replaced), connects and checkouts are
  bounded in time, and lost connections are invalidated; once the server is back the next
  call works. :mod:`gateway.store.outage` says which errors mean "unavailable".
- Every timestamp is a timezone-aware UTC ``datetime`` in Python (:class:`UTCDateTime`).
- The schema is owned by Alembic (``gateway/migrations``); :func:`upgrade` runs it
  programmatically, works from an installed wheel, and is safe to call from several
  processes starting at once (a PostgreSQL advisory lock; SQLite's write lock).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.schema import Table
from sqlalchemy.types import TypeDecorator

from gateway.domain.errors import ConfigError

READ_ONLY = "tthc_read_only"  # execution option: plain BEGIN on SQLite (no write lock)
_MIGRATION_LOCK = 0x7474_6863  # "tthc": the advisory lock id for migrations
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
CONNECT_TIMEOUT = 5  # seconds: PostgreSQL connect attempts (libpq ``connect_timeout``)
POOL_TIMEOUT = 10.0  # seconds: waiting for a pooled connection (then ``TimeoutError``)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always aware UTC in Python; naive UTC on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``)."""
    try:
        parsed = make_url(url)
    except Exception as error:
        raise ConfigError(f"database.url: not a database URL ({type(error).__name__})") from error
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = _sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            if path is not None:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            read_only = connection.get_execution_options().get(READ_ONLY, False)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    if backend == "postgresql":
        # a server that went away: pre-ping replaces pooled connections it closed, a
        # connect gives up after CONNECT_TIMEOUT (unless the URL says otherwise), and a
        # checkout waits at most POOL_TIMEOUT; all raise, the pool heals on its own
        connect_args = (
            {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT}
        )
        return create_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_timeout=POOL_TIMEOUT,
            connect_args=connect_args,
        )
    raise ConfigError(f"database.url: unsupported database {backend!r} (sqlite or postgresql)")


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def _write_lock(engine: Engine) -> threading.RLock | None:
    if engine.dialect.name != "sqlite":
        return None
    with _GUARD:
        lock = _WRITE_LOCKS.get(engine)
        if lock is None:
            lock = _WRITE_LOCKS[engine] = threading.RLock()
        return lock


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A write transaction: commits on success, rolls back on error.

    On SQLite the writers of one process take turns on an in-process lock (SQLite admits
    one writer at a time; without the lock, waiting writers sleep in SQLite's busy
    handler for 1-100 ms per try, which is where the accept path's p99 went).
    """
    lock = _write_lock(engine)
    if lock is None:
        with engine.begin() as connection:
            yield connection
        return
    with lock, engine.begin() as connection:
        yield connection


@dataclass(frozen=True)
class DriverTx:
    """A write transaction held on a driver connection (:func:`driver_write_tx`); what
    :class:`gateway.store.prepared.Prepared` needs to run in it."""

    dialect: Dialect
    driver: Any  # the DBAPI connection (sqlite3 / psycopg)


@contextmanager
def driver_write_tx(engine: Engine) -> Iterator[DriverTx]:
    """:func:`write_tx` on the driver itself, for short writes of prepared statements.

    Same rules (SQLite: the in-process writer lock, ``BEGIN IMMEDIATE``; commit on
    success, roll back on error), without SQLAlchemy's connection and transaction objects
    and events: a partner call appends two evidence records, each its own transaction.

    Driver errors of the checkout, ``BEGIN``, commit and rollback are raised as
    SQLAlchemy's (``OperationalError``, ... with ``connection_invalidated`` set on a
    disconnect), like :class:`~gateway.store.prepared.Prepared` raises its statements'. A
    connection that lost its server is invalidated, not returned to the pool.
    """
    dialect = engine.dialect
    lock = _write_lock(engine)
    with lock if lock is not None else nullcontext():
        try:
            pooled = engine.raw_connection()
        except dialect.loaded_dbapi.Error as error:
            raise driver_error(dialect, None, error) from error
        try:
            driver: Any = pooled.driver_connection
            try:
                if dialect.name == "sqlite":
                    driver.execute("BEGIN IMMEDIATE")
            except dialect.loaded_dbapi.Error as error:
                raise driver_error(dialect, driver, error, "BEGIN IMMEDIATE") from error
            try:
                yield DriverTx(dialect, driver)
            except BaseException as failure:
                if _lost(failure):
                    pooled.invalidate()
                    raise
                try:
                    driver.rollback()
                except dialect.loaded_dbapi.Error:
                    pooled.invalidate()  # the failure in the block is what the caller gets
                raise
            try:
                driver.commit()
            except dialect.loaded_dbapi.Error as error:
                wrapped = driver_error(dialect, driver, error, "COMMIT")
                if _lost(wrapped):
                    pooled.invalidate()
                raise wrapped from error
        finally:
            pooled.close()  # back to the pool (an invalidated one reconnects on its next use)


def driver_error(
    dialect: Dialect, driver: Any, error: Exception, statement: str | None = None
) -> BaseException:
    """The SQLAlchemy exception for a driver ``error`` (``connection_invalidated`` set when
    the dialect says the connection is lost), as ``Connection.execute`` would raise it."""
    lost = bool(dialect.is_disconnect(cast(Any, error), driver, None))
    return DBAPIError.instance(
        statement,
        None,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    )


def _lost(error: BaseException) -> bool:
    return isinstance(error, DBAPIError) and error.connection_invalidated


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (does not take SQLite's write lock)."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        with connection.begin():
            yield connection


def insert_ignore(connection: Connection, table: Table) -> Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the connection's dialect."""
    name = connection.dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise ConfigError(f"database: unsupported dialect {name!r}")


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` with Alembic (programmatic)."""
    from alembic import command
    from alembic.config import Config

    engine = make_engine(url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("path_separator", "os")
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Processes starting together (serve, worker) migrate one at a time;
                # SQLite's BEGIN IMMEDIATE already serializes them.
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        return MigrationContext.configure(connection).get_current_revision()
