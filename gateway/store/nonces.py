"""The nonces repository: the portal pushes' nonces seen within the replay window.

What it is for: a portal push whose ``X-Portal-Nonce`` was already spent is refused
(``gateway.flows.portal_push``); every ``serve`` process shares the nonces through the
database.

Rules:
- :func:`spend` runs in the caller's write transaction (the push's unit of work: the nonce
  is spent in the transaction that stores the pushed dossier, so a push that is not
  accepted spends nothing). It inserts ``ON CONFLICT DO NOTHING``: a nonce spent before
  (or by a concurrent push, whose transaction it waits for) is refused as
  :class:`~gateway.domain.errors.SignatureInvalid` ``nonce_reused`` (answered ``401``)
  without spoiling the transaction, which then rolls back.
- :func:`seen` reads without a write transaction; :func:`purge` forgets old nonces.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection, Engine

from gateway.domain.errors import SignatureInvalid
from gateway.store.db import insert_ignore, read_tx, write_tx
from gateway.store.schema import portal_nonces


def nonce_reused() -> SignatureInvalid:
    return SignatureInvalid("nonce_reused", "X-Portal-Nonce was already used within the window")


def spend(connection: Connection, nonce: str, at: datetime) -> None:
    """Record ``nonce`` as used at ``at`` (refused if it was)."""
    inserted = connection.execute(
        insert_ignore(connection, portal_nonces)
        .values(nonce=nonce, seen_at=at)
        .returning(portal_nonces.c.nonce)
    ).first()
    if inserted is None:
        raise nonce_reused()


def seen(engine: Engine, nonce: str) -> bool:
    """Whether ``nonce`` was spent (and not yet purged)."""
    with read_tx(engine) as connection:
        found = connection.execute(
            select(portal_nonces.c.nonce).where(portal_nonces.c.nonce == nonce)
        ).first()
    return found is not None


def purge(engine: Engine, before: datetime) -> int:
    """Forget the nonces seen before ``before``; returns how many."""
    with write_tx(engine) as connection:
        result = connection.execute(delete(portal_nonces).where(portal_nonces.c.seen_at < before))
    return int(result.rowcount or 0)
