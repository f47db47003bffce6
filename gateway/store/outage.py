"""Store outages: telling "the database is not there" from every other error, and saying so once.

What it is for: the API answers ``503`` with ``Retry-After`` instead of ``500`` when the
database went away, and the background loops (relay, consumer, periodic jobs) wait for
it and carry on, logging the outage once instead of once per attempt.

Rules:
- :func:`is_store_unavailable` is true for an error that means the database cannot be
  reached or refused the work for a reason that passes by itself: SQLAlchemy's
  ``OperationalError`` and ``InterfaceError``, any ``DBAPIError`` flagged
  ``connection_invalidated``, a pool timeout (``sqlalchemy.exc.TimeoutError``) or
  ``DisconnectionError``, and the driver's own ``OperationalError`` / ``InterfaceError``
  (psycopg raw, as a driver connection raises it). On SQLite only a locked, busy or
  unopenable database counts: its other ``OperationalError`` s ("no such table") are
  programming or migration errors and stay errors.
- The error's causes count too (``raise ... from``, or an error raised while handling
  one, e.g. a future's wrapper), except through a :class:`GatewayError`: that is a
  deliberate answer (a conflict, a refusal) whatever led to it.
- :class:`OutageLog` logs a streak of failures of one loop: a warning at the first
  failure (and when the kind of failure changes), a reminder every ``remind_every``
  seconds while it lasts, one ``info`` when the loop succeeds again; the failures in
  between go to ``debug``. :meth:`OutageLog.failed` answers the backoff delay.
- :func:`ping` is the probe the loops wait on (``SELECT 1``; on SQLite without the write lock).
- Log lines name the error's type and the first line of its message (for operators);
  the API never shows either (see ``gateway.api.errors``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

from gateway.domain.errors import GatewayError
from gateway.store.db import READ_ONLY

_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o error")
_MAX_DEPTH = 8


def _driver_unavailable(error: BaseException) -> bool:
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return any(marker in text for marker in _SQLITE_TRANSIENT)
    return False


def _unavailable_here(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
            # SQLite's driver error decides ("no such table" is not an outage)
            orig = error.orig
            return _driver_unavailable(orig) if isinstance(orig, sqlite3.Error) else True
        return False
    if isinstance(error, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True
    return _driver_unavailable(error)


def is_store_unavailable(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) says the database is unavailable."""
    seen: set[int] = set()
    current: BaseException | None = error
    for _ in range(_MAX_DEPTH):
        if current is None or id(current) in seen or isinstance(current, GatewayError):
            return False
        seen.add(id(current))
        if _unavailable_here(current):
            return True
        cause = current.__cause__
        if cause is None and not current.__suppress_context__:
            cause = current.__context__
        current = cause
    return False


def ping(engine: Engine) -> None:
    """``SELECT 1`` on a pooled connection: returns when the store answers, else raises."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        connection.execute(text("SELECT 1"))


def describe(error: BaseException) -> str:
    """``Type: first line of the message`` (at most 200 characters), for the log."""
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(error).__name__}: {first}"[:200] if first else type(error).__name__


class OutageLog:
    """The failures of one loop, logged once per streak (see the module rules)."""

    def __init__(
        self,
        what: str,
        logger: logging.Logger,
        *,
        backoff: Sequence[float] = (0.5, 1.0, 2.0, 5.0),
        remind_every: float = 300.0,
    ) -> None:
        if not backoff:
            raise ValueError("backoff: at least one delay")
        self.what = what
        self.backoff = tuple(backoff)
        self.remind_every = remind_every
        self._log = logger
        self._lock = threading.Lock()
        self.failures = 0  # in the current streak
        self._started = 0.0
        self._reminded = 0.0
        self._kind = ""

    @property
    def down(self) -> bool:
        return self.failures > 0

    def failed(self, error: BaseException) -> float:
        """Record one failure; returns how long to wait before the next attempt."""
        now = time.monotonic()
        store = is_store_unavailable(error)
        kind = "store unavailable" if store else type(error).__name__
        with self._lock:
            delay = self.backoff[min(self.failures, len(self.backoff) - 1)]
            first = self.failures == 0
            self.failures += 1
            if first:
                self._started = self._reminded = now
            changed = kind != self._kind
            self._kind = kind
            remind = not first and now - self._reminded >= self.remind_every
            if remind:
                self._reminded = now
            failures, lasted = self.failures, now - self._started
        if first or changed:
            self._log.warning(
                "%s: %s (%s); retrying with backoff, logged again when it recovers",
                self.what,
                "the store is unavailable" if store else "failed",
                describe(error),
            )
        elif remind:
            self._log.warning(
                "%s: still failing after %.0f s and %d attempts (%s)",
                self.what,
                lasted,
                failures,
                describe(error),
            )
        else:
            self._log.debug("%s: attempt %d failed (%s)", self.what, failures, describe(error))
        return delay

    def recovered(self) -> None:
        """The loop succeeded: log the end of a streak, if there was one."""
        with self._lock:
            if self.failures == 0:
                return
            failures, lasted = self.failures, time.monotonic() - self._started
            self.failures = 0
            self._kind = ""
        self._log.info(
            "%s: recovered after %.1f s (%d failed attempts)", self.what, lasted, failures
        )
