"""The dossier states repository: the last status the gateway accepted for each dossier.

What it is for: ``POST /v1/dossiers`` and ``.../progress`` refuse an illegal status change
before anything is queued (``gateway.domain.status.check_transition``), against this row.

Rules:
- :func:`advance` runs in the caller's write transaction (a unit of work's, see
  ``gateway.store.unit_of_work``): it checks the change against the stored status and
  records the new one with the message that carries it. An illegal change raises
  :class:`~gateway.domain.errors.IllegalTransition` and writes nothing; the unit of work
  then records nothing of its other steps either.
- Two concurrent changes of one dossier cannot both pass the check from one status: the
  row is read ``FOR UPDATE`` on PostgreSQL (SQLite has one writer). The first status seen
  for a dossier may be any status (dossiers older than the gateway); two first statuses
  racing on PostgreSQL: the loser's insert fails in its savepoint and it is refused as a
  concurrent change (``Conflict``: send again).
- The accept path runs these statements per request: they are prepared
  (``gateway.store.prepared``).
"""

from __future__ import annotations

from contextlib import nullcontext

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from gateway.domain.errors import Conflict
from gateway.domain.status import DossierStatus, check_transition
from gateway.store.db import read_tx, utcnow
from gateway.store.prepared import Prepared
from gateway.store.schema import dossier_states

_SELECT_CURRENT = select(dossier_states.c.status).where(
    dossier_states.c.dossier_code == bindparam("b_code")
)
_CURRENT = Prepared(_SELECT_CURRENT)
_CURRENT_LOCKED = Prepared(_SELECT_CURRENT.with_for_update())
_INSERT = Prepared(dossier_states.insert())
_ADVANCE = Prepared(
    update(dossier_states)
    .where(dossier_states.c.dossier_code == bindparam("b_code"))
    .values(
        status=bindparam("b_status"),
        last_message_id=bindparam("b_last_message_id"),
        updated_at=bindparam("b_updated_at"),
    )
)


def advance(connection: Connection, dossier_code: str, new: DossierStatus, message_id: str) -> None:
    """In the caller's transaction: refuse an illegal change, else record ``new``."""
    postgres = connection.dialect.name == "postgresql"
    current = (_CURRENT_LOCKED if postgres else _CURRENT).scalar(
        connection, {"b_code": dossier_code}
    )
    values = {"status": int(new), "last_message_id": message_id, "updated_at": utcnow()}
    if current is None:
        # A failed INSERT spoils a PostgreSQL transaction, hence its savepoint; SQLite
        # rolls back the failed statement alone (and has one writer: no race there).
        try:
            with connection.begin_nested() if postgres else nullcontext():
                _INSERT.execute(connection, {"dossier_code": dossier_code, **values})
        except IntegrityError:
            raise Conflict(
                f"dossier {dossier_code}: its status changed concurrently; send again"
            ) from None
        return
    check_transition(DossierStatus(current), new, dossier_code=dossier_code)
    if current != int(new):
        _ADVANCE.execute(
            connection, {"b_code": dossier_code} | {f"b_{k}": v for k, v in values.items()}
        )


def current_status(engine: Engine, dossier_code: str) -> DossierStatus | None:
    """The last accepted status of a dossier (None: the gateway has seen none)."""
    with read_tx(engine) as connection:
        status = _CURRENT.scalar(connection, {"b_code": dossier_code})
    return None if status is None else DossierStatus(status)
