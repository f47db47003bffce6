"""Dossier flows: the city syncs dossiers and progress to the portal; the portal pushes new ones.

Rules:
- Outbound (``POST /v1/dossiers``, ``.../progress``): identifiers are parsed, the status
  change is checked against the last status the gateway accepted for that dossier
  (``dossier_states``), and only then is the message signed and queued. An illegal
  transition is refused here, with both statuses named, and nothing is queued.
  The first status the gateway sees for a dossier may be any status (dossiers created
  before the gateway existed).
- The check, the message and the new state are one transaction (the state row is locked
  on PostgreSQL; SQLite has one writer), so two concurrent syncs cannot both pass the
  check from one status, and a refused change leaves nothing behind.
- Inbound (the portal's push of a dossier submitted online): the message id is derived
  from ``MaHoSo``, so a repeated push is stored once and delivered to the city once.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from contextlib import nullcontext
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from gateway.domain.errors import Conflict, InvalidInput
from gateway.domain.identifiers import DossierCode, ProcedureCode
from gateway.domain.messages import MessageType
from gateway.domain.status import DossierStatus, check_transition
from gateway.flows.acceptor import Accepted, Acceptor, Step, derived_message_id
from gateway.flows.tables import dossier_states
from gateway.store.db import read_tx, utcnow
from gateway.store.prepared import Prepared


class DossierStates:
    """The last accepted status of each dossier."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def current(self, dossier_code: str) -> DossierStatus | None:
        with read_tx(self._engine) as connection:
            status = connection.execute(
                select(dossier_states.c.status).where(dossier_states.c.dossier_code == dossier_code)
            ).scalar_one_or_none()
        return None if status is None else DossierStatus(status)

    @staticmethod
    def check_and_advance(
        connection: Connection, dossier_code: str, new: DossierStatus, message_id: str
    ) -> None:
        """In the caller's transaction: refuse an illegal change, else record ``new``."""
        postgres = connection.dialect.name == "postgresql"
        current = (_CURRENT_LOCKED if postgres else _CURRENT).scalar(
            connection, {"b_code": dossier_code}
        )
        values = {"status": int(new), "last_message_id": message_id, "updated_at": utcnow()}
        if current is None:
            # A failed INSERT spoils a PostgreSQL transaction, hence its savepoint; SQLite
            # rolls back the failed statement alone (and has one writer: no race here).
            try:
                with connection.begin_nested() if postgres else nullcontext():
                    _INSERT.execute(connection, {"dossier_code": dossier_code, **values})
            except IntegrityError:
                raise _moved(dossier_code) from None
            return
        check_transition(DossierStatus(current), new, dossier_code=dossier_code)
        if current != int(new):
            _ADVANCE.execute(
                connection, {"b_code": dossier_code} | {f"b_{k}": v for k, v in values.items()}
            )


# Statements built once and run on the driver (the accept path runs them per request;
# see gateway.store.prepared); parameters bound later.
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


def _moved(dossier_code: str) -> Conflict:
    return Conflict(f"dossier {dossier_code}: its status changed concurrently; send again")


def _field(document: Mapping[str, Any], name: str) -> Any:
    if name not in document or document[name] in (None, ""):
        raise InvalidInput(f"{name}: required", field=name)
    return document[name]


def parse_dossier_identifiers(record: Mapping[str, Any]) -> tuple[DossierCode, DossierStatus]:
    """Parse MaHoSo, MaTTHC and TrangThaiHoSo of a record (DonViXuLy is a name, not a code)."""
    code = DossierCode.parse(_field(record, "MaHoSo"))
    ProcedureCode.parse(_field(record, "MaTTHC"))
    status = DossierStatus.parse(_field(record, "TrangThaiHoSo"))
    return code, status


class DossierFlows:
    def __init__(self, acceptor: Acceptor, states: DossierStates) -> None:
        self._acceptor = acceptor
        self._states = states

    def sync(
        self, record: Mapping[str, Any], *, correlation_id: str, also: Step | None = None
    ) -> Accepted:
        """Queue ``DongBoHoSoMC`` for one dossier record (waits for the commit)."""
        return self.sync_soon(record, correlation_id=correlation_id, also=also).result()

    def sync_soon(
        self, record: Mapping[str, Any], *, correlation_id: str, also: Step | None = None
    ) -> Future[Accepted]:
        """:meth:`sync` for an event loop: checks and signs now, in the caller's thread;
        the future resolves once the message is committed.

        ``also(connection, message_id)`` runs first in the message's transaction (the
        API records the request's Idempotency-Key there); if it raises, nothing is
        recorded. The same for :meth:`progress_soon`.
        """
        code, status = parse_dossier_identifiers(record)
        return self._queue(
            MessageType.PORTAL_DOSSIER_SYNC, record, code, status, correlation_id, also
        )

    def progress(
        self,
        dossier_code: str,
        progress: Mapping[str, Any],
        *,
        correlation_id: str,
        also: Step | None = None,
    ) -> Accepted:
        """Queue ``CapNhatTienDoHoSoMC`` for one dossier's progress entry (waits)."""
        return self.progress_soon(
            dossier_code, progress, correlation_id=correlation_id, also=also
        ).result()

    def progress_soon(
        self,
        dossier_code: str,
        progress: Mapping[str, Any],
        *,
        correlation_id: str,
        also: Step | None = None,
    ) -> Future[Accepted]:
        """:meth:`progress` for an event loop (see :meth:`sync_soon`)."""
        code = DossierCode.parse(dossier_code)
        if progress.get("MaHoSo", code.value) != code.value:
            raise InvalidInput(
                f"MaHoSo {progress.get('MaHoSo')!r} differs from the path's dossier code",
                field="MaHoSo",
            )
        status = DossierStatus.parse(_field(progress, "TrangThai"), field="TrangThai")
        document = {**progress, "MaHoSo": code.value}
        return self._queue(
            MessageType.PORTAL_DOSSIER_PROGRESS, document, code, status, correlation_id, also
        )

    def _queue(
        self,
        message_type: MessageType,
        document: Mapping[str, Any],
        code: DossierCode,
        status: DossierStatus,
        correlation_id: str,
        also: Step | None,
    ) -> Future[Accepted]:
        def within(connection: Connection, message_id: str) -> None:
            if also is not None:
                also(connection, message_id)
            self._states.check_and_advance(connection, code.value, status, message_id)

        return self._acceptor.accept_soon(
            message_type,
            dict(document),
            correlation_id=correlation_id,
            dossier_code=code.value,
            within=within,
        )

    def submitted_on_portal(self, record: Mapping[str, Any], *, correlation_id: str) -> Accepted:
        """A dossier a citizen submitted on the portal: queue it for the city, once."""
        code, status = parse_dossier_identifiers(record)
        if status is not DossierStatus.NEWLY_REGISTERED:
            raise InvalidInput(
                f"TrangThaiHoSo {int(status)}: a dossier submitted on the portal must be 1",
                field="TrangThaiHoSo",
            )
        event = {"event": MessageType.CITY_DOSSIER_SUBMITTED.value, "dossier": dict(record)}
        return self._acceptor.accept(
            MessageType.CITY_DOSSIER_SUBMITTED,
            event,
            correlation_id=correlation_id,
            dossier_code=code.value,
            message_id=derived_message_id("portal-submitted", code.value),
            source="portal",
        )
