"""The idempotency repository: the API's ``Idempotency-Key`` records.

What it is for: a caller that retries a POST with the same key gets the first answer
again instead of creating a second message; the same key with another request is a
client error (the API answers 422).

Rules:
- A record is keyed by (caller, key) (:class:`KeyClaim`): two callers never see each
  other's keys. The claim's ``fingerprint`` is the API's hash of the request; a record
  with another fingerprint is a ``mismatch``.
- Every write runs in the caller's write transaction (a unit of work's step,
  ``gateway.store.unit_of_work``), insert-first: an expired record of the key is dropped,
  ours is inserted ``ON CONFLICT DO NOTHING``; when a live record was there, nothing is
  written and :class:`KeyAlreadyUsed` says what it holds (``hit``, ``mismatch``,
  ``in_progress``), so the unit of work records nothing else either. A concurrent insert
  of the same key waits for the other transaction (PostgreSQL) or its batch (SQLite) and
  then finds its record.
- Two ways to use a key. :func:`record` stores the answer in the transaction of the
  operation's own effect (the queued operations: message and key commit together or not
  at all). :func:`reserve` holds the key before work done outside the store (a partner
  call): a concurrent request with the key then sees ``in_progress``; :func:`answer`
  stores the response afterwards, :func:`release` drops a reservation whose work failed.
- Records expire (:class:`KeyPolicy.ttl`); an expired record is as good as absent. A
  reservation without an answer lives only ``reservation`` (2 min, far beyond any
  request's deadline): a process that died between reserving and answering leaves the key
  retryable after that, not blocked for the whole ``ttl``.
- The accept path runs these statements per request: they are prepared
  (``gateway.store.prepared``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine, and_, bindparam, delete, select, update
from sqlalchemy.engine import Connection

from gateway.store.db import insert_ignore, read_tx, utcnow, write_tx
from gateway.store.prepared import Prepared
from gateway.store.schema import idempotency

LookupState = Literal["miss", "hit", "mismatch", "in_progress"]


@dataclass(frozen=True)
class KeyClaim:
    """One request's ``Idempotency-Key``: who sent it, the key, the request's fingerprint."""

    caller: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IdempotencyResult:
    """``miss``: no usable record; ``hit``: the stored ``response``; ``mismatch``: same
    key, another request; ``in_progress``: the first request with this key still runs."""

    state: LookupState
    response: StoredResponse | None = None


class KeyAlreadyUsed(Exception):
    """The key has a live record; raised in the transaction, which must roll back."""

    def __init__(self, found: IdempotencyResult) -> None:
        super().__init__(found.state)
        self.found = found


@dataclass(frozen=True)
class KeyPolicy:
    """How long records live: answers ``ttl``, bare reservations ``reservation``."""

    ttl: timedelta = timedelta(hours=24)
    reservation: timedelta = timedelta(minutes=2)


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
_RELEASE = Prepared(
    delete(idempotency).where(
        _SAME_KEY,
        idempotency.c.request_hash == bindparam("b_hash"),
        idempotency.c.status.is_(None),
    )
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


def _found(connection: Connection, claim: KeyClaim) -> IdempotencyResult:
    row = _RECORD.first(connection, {"b_caller": claim.caller, "b_key": claim.key})
    if row is None:
        return IdempotencyResult("miss")
    stored_hash, status, body, headers, expires_at = row
    if expires_at <= utcnow():
        return IdempotencyResult("miss")
    if stored_hash != claim.fingerprint:
        return IdempotencyResult("mismatch")
    if status is None:
        return IdempotencyResult("in_progress")
    return IdempotencyResult(
        "hit", StoredResponse(int(status), bytes(body or b""), dict(headers or {}))
    )


def _insert_first(
    connection: Connection,
    claim: KeyClaim,
    response: StoredResponse | None,
    expires_at: datetime,
) -> None:
    """Drop an expired record of the key, insert ours (an answer, or a reservation when
    ``response`` is None); :class:`KeyAlreadyUsed` when a live record is there."""
    now = utcnow()
    params = {"b_caller": claim.caller, "b_key": claim.key}
    _DROP_EXPIRED.execute(connection, params | {"b_now": now})
    inserted = _insert_statement(connection).first(
        connection,
        {
            "caller": claim.caller,
            "key": claim.key,
            "request_hash": claim.fingerprint,
            "status": None if response is None else response.status,
            "response_body": None if response is None else response.body,
            "response_headers": None if response is None else response.headers,
            "created_at": now,
            "expires_at": expires_at,
        },
    )
    if inserted is None:
        raise KeyAlreadyUsed(_found(connection, claim))


def record(
    connection: Connection, claim: KeyClaim, response: StoredResponse, policy: KeyPolicy
) -> None:
    """Store the answer in the operation's own transaction, with no reservation first."""
    _insert_first(connection, claim, response, utcnow() + policy.ttl)


def reserve(connection: Connection, claim: KeyClaim, policy: KeyPolicy) -> None:
    """Hold the key for a request whose work is done outside the store."""
    _insert_first(connection, claim, None, utcnow() + min(policy.reservation, policy.ttl))


def answer(
    connection: Connection, claim: KeyClaim, response: StoredResponse, policy: KeyPolicy
) -> None:
    """Store the response of a request (reserved or not) for (caller, key)."""
    now = utcnow()
    values = {
        "status": response.status,
        "response_body": response.body,
        "response_headers": dict(response.headers),
        "expires_at": now + policy.ttl,
    }
    updated = _ANSWER.first(
        connection,
        {"b_caller": claim.caller, "b_key": claim.key, "b_hash": claim.fingerprint}
        | {f"b_{name}": value for name, value in values.items()},
    )
    if updated is None:
        _insert_statement(connection).execute(
            connection,
            {
                "caller": claim.caller,
                "key": claim.key,
                "request_hash": claim.fingerprint,
                "created_at": now,
            }
            | values,
        )


def release(connection: Connection, claim: KeyClaim) -> None:
    """Drop an unanswered reservation (its work failed: the caller may retry)."""
    _RELEASE.execute(
        connection, {"b_caller": claim.caller, "b_key": claim.key, "b_hash": claim.fingerprint}
    )


class IdempotencyRecords:
    """Reading and purging the records of one engine (the writes are a unit of work's)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def lookup(self, claim: KeyClaim) -> IdempotencyResult:
        """What is stored for the claim's (caller, key), compared with its fingerprint."""
        with read_tx(self.engine) as connection:
            return _found(connection, claim)

    def purge_expired(self) -> int:
        """Delete expired records; returns how many."""
        with write_tx(self.engine) as connection:
            gone = connection.execute(
                delete(idempotency)
                .where(idempotency.c.expires_at <= utcnow())
                .returning(idempotency.c.key)
            ).all()
        return len(gone)
