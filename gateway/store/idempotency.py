"""Idempotency records for the API's ``Idempotency-Key`` header.

What it is for: a caller that retries a POST with the same key gets the first answer
again instead of creating a second message; the same key with a different body is a
client error the API answers with 422.

Rules:
- A record is keyed by (caller, key): two callers never see each other's keys.
- ``request_hash`` is the caller's fingerprint of the request (method, path, body);
  :func:`request_hash` computes the one the API uses.
- :meth:`IdempotencyStore.begin` reserves the key insert-first before the work is done,
  so two concurrent requests with one key cannot both run: the loser sees
  ``in_progress`` (the API answers 409). :meth:`save` stores the response;
  :meth:`abandon` drops a reservation whose work failed, so the key can be retried.
- :meth:`IdempotencyStore.record_in` is the other way, for an operation whose whole
  effect is one transaction of this store: the answer is inserted in that transaction,
  with no reservation before, so key and effect commit together or not at all.
- Records expire (``ttl``); an expired record is as good as absent and is replaced.
- A reservation without a stored answer lives only ``reservation`` (2 min, far beyond any
  request's deadline): a process that died between ``begin`` and ``save`` leaves the key
  retryable after that, not blocked with ``in_progress`` for the whole ``ttl``.
- Writes go through the engine's group commit on SQLite (``gateway.store.group_commit``):
  concurrent requests' reservations and answers share transactions. ``begin_soon`` and
  ``save_soon`` return a future resolved once the write is committed (for the event
  loop); ``begin_in``/``save_in`` run in a caller's write transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from sqlalchemy import Engine, and_, bindparam, delete, select, update
from sqlalchemy.engine import Connection

from gateway.store.db import insert_ignore, read_tx, utcnow, write_tx
from gateway.store.group_commit import run_write, submit_write
from gateway.store.prepared import Prepared
from gateway.store.schema import idempotency

R = TypeVar("R")
LookupState = Literal["miss", "hit", "mismatch", "in_progress"]


def request_hash(method: str, path: str, body: bytes) -> str:
    """SHA-256 (hex) over method, path and the exact body bytes."""
    digest = hashlib.sha256()
    digest.update(method.upper().encode() + b"\n" + path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class IdempotencyResult:
    """``miss``: no usable record (after ``begin``: the key is now yours);
    ``hit``: the stored ``response``; ``mismatch``: same key, different request;
    ``in_progress``: the first request with this key is still running."""

    state: LookupState
    response: StoredResponse | None = None


# Statements built once and run on the driver (the hot path's reads and writes; see
# gateway.store.prepared); parameters are bound at execution.
_SAME_KEY = and_(
    idempotency.c.caller == bindparam("b_caller"), idempotency.c.key == bindparam("b_key")
)
_DROP_EXPIRED = Prepared(
    delete(idempotency).where(_SAME_KEY, idempotency.c.expires_at <= bindparam("b_now"))
)
_ANSWER = Prepared(
    update(idempotency)
    .where(_SAME_KEY, idempotency.c.request_hash == bindparam("b_hash"))
    .values(
        status=bindparam("b_status"),
        response_body=bindparam("b_response_body"),
        response_headers=bindparam("b_response_headers"),
        expires_at=bindparam("b_expires_at"),
    )
    .returning(idempotency.c.key)
)
_RECORD = Prepared(
    select(
        idempotency.c.request_hash,
        idempotency.c.status,
        idempotency.c.response_body,
        idempotency.c.response_headers,
        idempotency.c.expires_at,
    ).where(_SAME_KEY)
)
_INSERTS: dict[str, Prepared] = {}


def _insert_statement(connection: Connection) -> Prepared:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING key`` for the connection's dialect."""
    name = connection.dialect.name
    statement = _INSERTS.get(name)
    if statement is None:
        statement = Prepared(insert_ignore(connection, idempotency).returning(idempotency.c.key))
        _INSERTS[name] = statement
    return statement


class IdempotencyStore:
    """Idempotency records on one engine (see the module rules)."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: timedelta = timedelta(hours=24),
        reservation: timedelta = timedelta(minutes=2),
    ) -> None:
        self.engine = engine
        self.ttl = ttl
        self.reservation = reservation

    def lookup(self, caller: str, key: str, request_hash: str) -> IdempotencyResult:
        """What is stored for (caller, key), compared with ``request_hash``."""
        with read_tx(self.engine) as connection:
            return self._lookup_in(connection, caller, key, request_hash)

    @staticmethod
    def _lookup_in(
        connection: Connection, caller: str, key: str, request_hash: str
    ) -> IdempotencyResult:
        row = _RECORD.first(connection, {"b_caller": caller, "b_key": key})
        if row is None:
            return IdempotencyResult("miss")
        stored_hash, status, body, headers, expires_at = row
        if expires_at <= utcnow():
            return IdempotencyResult("miss")
        if stored_hash != request_hash:
            return IdempotencyResult("mismatch")
        if status is None:
            return IdempotencyResult("in_progress")
        return IdempotencyResult(
            "hit", StoredResponse(int(status), bytes(body or b""), dict(headers or {}))
        )

    def begin(self, caller: str, key: str, request_hash: str) -> IdempotencyResult:
        """Reserve the key; ``miss`` means it is yours now, else what ``lookup`` says."""
        return run_write(self.engine, lambda c: self.begin_in(c, caller, key, request_hash))

    def begin_soon(self, caller: str, key: str, request_hash: str) -> Future[IdempotencyResult]:
        """:meth:`begin` handed over; resolves once the reservation is committed."""
        return self._soon(lambda c: self.begin_in(c, caller, key, request_hash))

    def begin_in(
        self, connection: Connection, caller: str, key: str, request_hash: str
    ) -> IdempotencyResult:
        """:meth:`begin` in the caller's write transaction."""
        expires_at = utcnow() + min(self.reservation, self.ttl)
        return self._insert_first(connection, caller, key, request_hash, None, expires_at)

    def record_in(
        self,
        connection: Connection,
        caller: str,
        key: str,
        request_hash: str,
        *,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> IdempotencyResult:
        """Record the answer in the caller's write transaction, with no reservation first.

        For operations whose whole effect is that transaction: the key and the effect
        commit together or not at all. ``miss`` means recorded now; otherwise what
        :meth:`lookup` says, and nothing was written (the caller must not go on). Two
        concurrent requests with one key: the second's insert waits for the first's
        transaction (PostgreSQL) or its batch (SQLite) and then finds its record.
        """
        answer = StoredResponse(status, body, dict(headers or {}))
        return self._insert_first(
            connection, caller, key, request_hash, answer, utcnow() + self.ttl
        )

    def _insert_first(
        self,
        connection: Connection,
        caller: str,
        key: str,
        request_hash: str,
        answer: StoredResponse | None,
        expires_at: datetime,
    ) -> IdempotencyResult:
        """Drop an expired record of the key, insert ours (an answer, or a reservation
        when ``answer`` is None); ``miss`` if inserted, else what is stored."""
        now = utcnow()
        _DROP_EXPIRED.execute(connection, {"b_caller": caller, "b_key": key, "b_now": now})
        inserted = _insert_statement(connection).first(
            connection,
            {
                "caller": caller,
                "key": key,
                "request_hash": request_hash,
                "status": None if answer is None else answer.status,
                "response_body": None if answer is None else answer.body,
                "response_headers": None if answer is None else answer.headers,
                "created_at": now,
                "expires_at": expires_at,
            },
        )
        if inserted is not None:
            return IdempotencyResult("miss")
        return self._lookup_in(connection, caller, key, request_hash)

    def save(
        self,
        caller: str,
        key: str,
        request_hash: str,
        *,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Store the response for (caller, key) (reserved with ``begin`` or not)."""
        run_write(
            self.engine,
            lambda c: self.save_in(c, caller, key, request_hash, status, body, headers),
        )

    def save_soon(
        self,
        caller: str,
        key: str,
        request_hash: str,
        *,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> Future[None]:
        """:meth:`save` handed over; resolves once the answer is committed."""
        return self._soon(
            lambda c: self.save_in(c, caller, key, request_hash, status, body, headers)
        )

    def save_in(
        self,
        connection: Connection,
        caller: str,
        key: str,
        request_hash: str,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        """:meth:`save` in the caller's write transaction."""
        now = utcnow()
        values = {
            "status": status,
            "response_body": body,
            "response_headers": dict(headers or {}),
            "expires_at": now + self.ttl,
        }
        updated = _ANSWER.first(
            connection,
            {"b_caller": caller, "b_key": key, "b_hash": request_hash}
            | {f"b_{name}": value for name, value in values.items()},
        )
        if updated is None:
            _insert_statement(connection).execute(
                connection,
                {"caller": caller, "key": key, "request_hash": request_hash, "created_at": now}
                | values,
            )

    def _soon(self, work: Callable[[Connection], R]) -> Future[R]:
        return submit_write(self.engine, work)

    def abandon(self, caller: str, key: str, request_hash: str) -> None:
        """Drop an unfinished reservation (the work failed; the caller may retry)."""

        def drop(connection: Connection) -> None:
            connection.execute(
                delete(idempotency).where(
                    idempotency.c.caller == caller,
                    idempotency.c.key == key,
                    idempotency.c.request_hash == request_hash,
                    idempotency.c.status.is_(None),
                )
            )

        run_write(self.engine, drop)

    def purge_expired(self) -> int:
        """Delete expired records; returns how many."""
        with write_tx(self.engine) as connection:
            gone = connection.execute(
                delete(idempotency)
                .where(idempotency.c.expires_at <= utcnow())
                .returning(idempotency.c.key)
            ).all()
        return len(gone)
