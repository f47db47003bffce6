"""Prepared statements: Core statements compiled once per dialect, run on the driver.

What it is for: the accept path runs a handful of small statements per request. Through
``Connection.execute`` each costs ~40 µs of Python (cache key, execution context, result
wrapping) against ~7 µs for the driver itself (SQLite, measured on this project's machine).
A :class:`Prepared` statement keeps SQLAlchemy for what it does well (building the SQL for
the dialect, the column types' value conversions) and runs the compiled SQL straight on
the connection's driver connection.

Rules:
- Built from a Core statement. Callers pass the bind parameter names as keys: an
  ``insert()`` without ``values`` takes the column keys (compiled once per dialect and set
  of keys); other statements take their ``bindparam`` names. A bind parameter the caller
  must give and did not is a ``KeyError`` naming it; literal values in the statement are
  bound as compiled.
- Values go through the same bind processors SQLAlchemy applies (the types'
  ``bind_processor``, e.g. :class:`~gateway.store.db.UTCDateTime`, JSON), rows through the
  result processors of the returned columns, so what is written and read equals what
  ``Connection.execute`` writes and reads (tested against it on SQLite and PostgreSQL).
- Driver errors are raised as SQLAlchemy's (``IntegrityError``, ``OperationalError``...)
  through ``DBAPIError.instance``, so callers catch what they would catch with Core; a lost
  connection (the dialect's ``is_disconnect``) sets ``connection_invalidated``, as Core
  does. :func:`~gateway.store.db.driver_write_tx` does the same for its checkout, commit
  and rollback, and invalidates a lost connection instead of pooling it again.
- Runs in the transaction the caller holds on ``connection`` (its driver connection), a
  SQLAlchemy ``Connection`` or a :class:`~gateway.store.db.DriverTx`; never begins or
  commits. Refused when compiling: expanding (``IN`` list) parameters and
  inserts that need Python-side column defaults (pass every column instead).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.dml import Insert

from gateway.store.db import DriverTx

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Plan:
    sql: str
    positional: bool
    names: tuple[str, ...]  # bind names, in placeholder order when positional
    processors: tuple[Processor, ...]  # one per name
    required: frozenset[str]
    defaults: Mapping[str, Any]  # values compiled into the statement (literals)
    result: tuple[Processor, ...]  # one per returned column (empty: no rows)

    def bind(self, params: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        values = []
        for name, process in zip(self.names, self.processors, strict=True):
            if name in params:
                value = params[name]
            elif name in self.required:
                raise KeyError(f"prepared statement: no value for the parameter {name!r}")
            else:
                value = self.defaults.get(name)
            values.append(value if process is None or value is None else process(value))
        if self.positional:
            return tuple(values)
        return dict(zip(self.names, values, strict=True))

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        if not any(self.result):
            return [tuple(row) for row in raw]
        return [
            tuple(
                value if process is None or value is None else process(value)
                for value, process in zip(row, self.result, strict=True)
            )
            for row in raw
        ]


class Prepared:
    """A Core statement run on the driver (see the module rules)."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._by_insert = isinstance(statement, Insert)
        self._plans: dict[tuple[str, frozenset[str] | None], _Plan] = {}
        self._lock = threading.Lock()

    def execute(
        self, connection: Connection | DriverTx, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """Run once with ``params``; the rows it returns (``[]`` for plain DML)."""
        plan = self._plan(connection.dialect, params)
        bound = plan.bind(params)
        cursor = _driver(connection).cursor()
        try:
            try:
                cursor.execute(plan.sql, bound)
                raw = cursor.fetchall() if plan.result else []
            except connection.dialect.loaded_dbapi.Error as error:
                raise _wrapped(connection, plan.sql, bound, error) from error
        finally:
            cursor.close()
        return plan.rows(raw)

    def first(
        self, connection: Connection | DriverTx, params: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        rows = self.execute(connection, params)
        return rows[0] if rows else None

    def scalar(self, connection: Connection | DriverTx, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.first(connection, params)
        return None if row is None else row[0]

    def execute_many(
        self, connection: Connection | DriverTx, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Run once per row of ``rows`` (all with the same keys), in one driver call."""
        if not rows:
            return
        plan = self._plan(connection.dialect, rows[0])
        if plan.result:
            raise ValueError("prepared statement: execute_many cannot return rows")
        bound = [plan.bind(row) for row in rows]
        cursor = _driver(connection).cursor()
        try:
            try:
                cursor.executemany(plan.sql, bound)
            except connection.dialect.loaded_dbapi.Error as error:
                raise _wrapped(connection, plan.sql, bound, error) from error
        finally:
            cursor.close()

    def _plan(self, dialect: Dialect, params: Mapping[str, Any]) -> _Plan:
        keys = frozenset(params) if self._by_insert else None
        plan = self._plans.get((dialect.name, keys))
        if plan is None:
            with self._lock:
                plan = self._plans.get((dialect.name, keys))
                if plan is None:
                    plan = self._plans[(dialect.name, keys)] = self._compile(dialect, keys)
        return plan

    def _compile(self, dialect: Dialect, keys: frozenset[str] | None) -> _Plan:
        compiled: Any = self.statement.compile(
            dialect=dialect, column_keys=sorted(keys) if keys is not None else None
        )
        if getattr(compiled, "insert_prefetch", None):
            missing = sorted(column.key for column in compiled.insert_prefetch)
            raise ValueError(f"prepared insert: give every column; missing {missing}")
        names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
        binds = [compiled.binds[name] for name in names]
        if any(bind.expanding for bind in binds):
            raise ValueError("prepared statement: expanding (IN list) parameters are not supported")
        # a Select's columns; an insert/update/delete's RETURNING columns (none: no rows)
        returned = getattr(self.statement, "exported_columns", ())
        return _Plan(
            sql=str(compiled),
            positional=bool(compiled.positional),
            names=names,
            processors=tuple(
                bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds
            ),
            required=frozenset(
                name for name, bind in zip(names, binds, strict=True) if bind.required
            ),
            defaults={
                name: bind.effective_value
                for name, bind in zip(names, binds, strict=True)
                if not bind.required
            },
            result=tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in returned
            ),
        )


def _driver(connection: Connection | DriverTx) -> Any:
    if isinstance(connection, DriverTx):
        return connection.driver
    return connection.connection.driver_connection


def _wrapped(
    connection: Connection | DriverTx, sql: str, params: Any, error: Exception
) -> StatementError:
    dialect = connection.dialect
    lost = bool(dialect.is_disconnect(cast(Any, error), _driver(connection), None))
    return DBAPIError.instance(
        sql,
        params,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    )
