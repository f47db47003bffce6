"""Dossier flows: the city syncs dossiers and progress to the portal; the portal pushes new ones.

Each flow's entry is a command, handled by a plain function that gets a unit of work and
the ports it needs, and answers a future of the result:

    QueueDossierSync  -> queue_dossier_sync(command, uow, signer)   POST /v1/dossiers
    QueueProgress     -> queue_progress(command, uow, signer)       POST .../progress
    AcceptPortalPush  -> accept_portal_push(command, uow, signer)   the portal's push
    portal_status(dossier_code, portal, correlation_id)             GET .../portal-status

Rules:
- Outbound (sync, progress): identifiers are parsed and the message is signed here, in the
  caller's thread (CPU only: the API calls these on its event loop); then ONE unit of work
  records the request's ``Idempotency-Key`` answer (when the command carries one), checks
  and advances the dossier's state (``dossier_states``: the first status seen may be any,
  an illegal change is refused with both statuses named) and stores the message with its
  outbox row. They commit together or not at all: a refused change, a key already used
  or a store failure leaves nothing behind, and two concurrent syncs cannot both pass the
  check from one status (``gateway.store.dossier_states``).
- Inbound (the portal's push of a dossier submitted online): the message id is derived
  from ``MaHoSo``, so a repeated push is stored once and delivered to the city once (the
  first version stands); the push's nonce is spent in the same unit of work, so a push
  that is not accepted spends nothing and the portal may retry it.
- The answer (:class:`Queued`) is the return value: the message id and the exact bytes of
  the API's answer, the same bytes recorded with the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.http import CallContext
from adapters.portal.port import PortalClient
from gateway.domain.errors import InvalidInput
from gateway.domain.identifiers import DossierCode, ProcedureCode
from gateway.domain.jsonbytes import compact_json
from gateway.domain.messages import Envelope, MessageType
from gateway.domain.status import DossierStatus
from gateway.domain.time_zone import VIETNAM
from gateway.flows.acceptor import Signer, derived_message_id, signed
from gateway.flows.idempotency import KeyedAnswer
from gateway.futures import then
from gateway.store.repositories import UnitOfWork


@dataclass(frozen=True)
class DossierFlows:
    """What the dossier flow functions are given (built by the composition root)."""

    units_of_work: Callable[[], UnitOfWork]
    signer: Signer
    portal: PortalClient


@dataclass(frozen=True)
class QueueDossierSync:
    """Sync one dossier record (``DongBoHoSoMC``; the portal's own record schema)."""

    record: Mapping[str, Any]
    correlation_id: str
    keyed: KeyedAnswer | None = None


@dataclass(frozen=True)
class QueueProgress:
    """Push one progress entry of a dossier (``CapNhatTienDoHoSoMC``)."""

    dossier_code: str
    progress: Mapping[str, Any]
    correlation_id: str
    keyed: KeyedAnswer | None = None


@dataclass(frozen=True)
class AcceptPortalPush:
    """A dossier a citizen submitted on the portal, pushed with ``nonce``."""

    record: Mapping[str, Any]
    nonce: str
    correlation_id: str


@dataclass(frozen=True)
class Queued:
    """A message stored for delivery; ``answer`` is the API's answer, as bytes."""

    message_id: str
    answer: bytes

    @classmethod
    def of(cls, message_id: str) -> Queued:
        return cls(message_id, compact_json({"messageId": message_id, "status": "accepted"}))


def queue_dossier_sync(
    command: QueueDossierSync, uow: UnitOfWork, signer: Signer
) -> Future[Queued]:
    code, status = parse_dossier_identifiers(command.record)
    envelope = signed(
        signer,
        MessageType.PORTAL_DOSSIER_SYNC,
        command.record,
        correlation_id=command.correlation_id,
        dossier_code=code.value,
    )
    return _queue(uow, envelope, code, status, command.keyed)


def queue_progress(command: QueueProgress, uow: UnitOfWork, signer: Signer) -> Future[Queued]:
    code = DossierCode.parse(command.dossier_code)
    progress = command.progress
    if progress.get("MaHoSo", code.value) != code.value:
        raise InvalidInput(
            f"MaHoSo {progress.get('MaHoSo')!r} differs from the path's dossier code",
            field="MaHoSo",
        )
    status = DossierStatus.parse(_field(progress, "TrangThai"), field="TrangThai")
    envelope = signed(
        signer,
        MessageType.PORTAL_DOSSIER_PROGRESS,
        {**progress, "MaHoSo": code.value},
        correlation_id=command.correlation_id,
        dossier_code=code.value,
    )
    return _queue(uow, envelope, code, status, command.keyed)


def _queue(
    uow: UnitOfWork,
    envelope: Envelope,
    code: DossierCode,
    status: DossierStatus,
    keyed: KeyedAnswer | None,
) -> Future[Queued]:
    """The outbound flows' one transaction: key, state, message (see the module rules)."""
    queued = Queued.of(envelope.message_id)
    with uow:
        if keyed is not None:
            uow.idempotency.record(keyed.claim, keyed.response(queued.answer))
        uow.dossier_states.advance(code.value, status, envelope.message_id)
        uow.messages.add(envelope, dossier_code=code.value, partner=envelope.recipient)
        committed = uow.commit()
    return then(committed, lambda _: queued)


def accept_portal_push(
    command: AcceptPortalPush, uow: UnitOfWork, signer: Signer
) -> Future[Queued]:
    code, status = parse_dossier_identifiers(command.record)
    if status is not DossierStatus.NEWLY_REGISTERED:
        raise InvalidInput(
            f"TrangThaiHoSo {int(status)}: a dossier submitted on the portal must be 1",
            field="TrangThaiHoSo",
        )
    envelope = signed(
        signer,
        MessageType.CITY_DOSSIER_SUBMITTED,
        {"event": MessageType.CITY_DOSSIER_SUBMITTED.value, "dossier": dict(command.record)},
        correlation_id=command.correlation_id,
        dossier_code=code.value,
        message_id=derived_message_id("portal-submitted", code.value),
        source="portal",
    )
    with uow:
        uow.nonces.spend(command.nonce, datetime.now(UTC))
        uow.messages.add(
            envelope, dossier_code=code.value, partner=envelope.recipient, keep_existing=True
        )
        committed = uow.commit()
    queued = Queued.of(envelope.message_id)
    return then(committed, lambda _: queued)


def portal_status(dossier_code: str, portal: PortalClient, correlation_id: str) -> dict[str, Any]:
    """What the portal holds for the dossier (the contract's ``PortalStatus``)."""
    code = DossierCode.parse(dossier_code)
    record = portal.find_dossier(
        code.value, context=CallContext(correlation_id, dossier_code=code.value)
    )
    answer: dict[str, Any] = {
        "MaHoSo": code.value,
        "foundOnPortal": record is not None,
        "checkedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    if record is not None:
        answer.update(
            TrangThaiHoSo=int(record.status),
            NgayTiepNhan=national_time(record.received_at),
            NgayHenTra=national_time(record.due_at),
            NgayTra=national_time(record.returned_at),
        )
    return answer


def national_time(moment: datetime | None) -> str | None:
    """``yyyyMMddHHmmss`` in Vietnam's time, the national APIs' date format."""
    return None if moment is None else moment.astimezone(VIETNAM).strftime("%Y%m%d%H%M%S")


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
