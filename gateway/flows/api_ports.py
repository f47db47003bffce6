"""The API's ports (``gateway.flows.ports``) implemented on the flows and adapters.

Rules: these classes only translate between the contract's JSON and the flows'
records; every decision (validation, transitions, exactly-once) lives in the flows or
the adapters. Dates on the national APIs are ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from adapters.http import CallContext
from adapters.portal.catalogue import procedure_to_portal
from adapters.portal.port import PortalClient
from gateway.domain.identifiers import DossierCode, ProcedureCode
from gateway.flows.acceptor import Step
from gateway.flows.dossiers import DossierFlows
from gateway.flows.payments import PaymentFlows
from gateway.flows.ports import CallContext as ApiContext
from gateway.futures import then

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def national_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(VIETNAM).strftime("%Y%m%d%H%M%S")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _queued(message_id: str) -> dict[str, Any]:
    return {"messageId": message_id, "status": "accepted"}


def _recording(ctx: ApiContext) -> Step | None:
    """The request's answer recorder as a step of the message's transaction (or None)."""
    record = ctx.record_answer
    if record is None:
        return None
    return lambda connection, message_id: record(connection, _queued(message_id))


class DossierService:
    """``DossierPort``: queue syncs and progress; ask the portal what it holds."""

    def __init__(self, flows: DossierFlows, portal: PortalClient) -> None:
        self._flows = flows
        self._portal = portal

    def sync_dossier_soon(
        self, record: Mapping[str, Any], ctx: ApiContext
    ) -> Future[dict[str, Any]]:
        # the body was validated against the portal's own record schema by the API (the
        # gateway contract $refs it); the flows parse the identifiers and the transition
        accepted = self._flows.sync_soon(
            record, correlation_id=ctx.correlation_id, also=_recording(ctx)
        )
        return then(accepted, lambda done: _queued(done.message_id))

    def push_progress_soon(
        self, dossier_code: str, progress: Mapping[str, Any], ctx: ApiContext
    ) -> Future[dict[str, Any]]:
        document = {**progress, "MaHoSo": progress.get("MaHoSo", dossier_code)}
        accepted = self._flows.progress_soon(
            dossier_code, document, correlation_id=ctx.correlation_id, also=_recording(ctx)
        )
        return then(accepted, lambda done: _queued(done.message_id))

    def portal_status(self, dossier_code: str, ctx: ApiContext) -> dict[str, Any]:
        code = DossierCode.parse(dossier_code)
        record = self._portal.find_dossier(
            code.value, context=CallContext(ctx.correlation_id, dossier_code=code.value)
        )
        answer: dict[str, Any] = {
            "MaHoSo": code.value,
            "foundOnPortal": record is not None,
            "checkedAt": _now_iso(),
        }
        if record is not None:
            answer.update(
                TrangThaiHoSo=int(record.status),
                NgayTiepNhan=national_time(record.received_at),
                NgayHenTra=national_time(record.due_at),
                NgayTra=national_time(record.returned_at),
            )
        return answer


class ProcedureService:
    """``ProcedurePort``: the portal's catalogue, cached by the adapter."""

    def __init__(self, portal: PortalClient) -> None:
        self._portal = portal

    def get_procedure(self, procedure_code: str, ctx: ApiContext) -> dict[str, Any]:
        code = ProcedureCode.parse(procedure_code).to_national()
        procedure = self._portal.get_procedure(code.value, context=CallContext(ctx.correlation_id))
        return procedure_to_portal(procedure)  # exactly the portal's LayThuTuc record


class PaymentService:
    """``PaymentPort`` on the payment flows."""

    def __init__(self, flows: PaymentFlows) -> None:
        self._flows = flows

    def create(self, request: Mapping[str, Any], ctx: ApiContext) -> dict[str, Any]:
        return self._flows.create(
            request,
            caller=ctx.caller or "unknown",
            correlation_id=ctx.correlation_id,
            idempotency_key=ctx.idempotency_key,
        )

    def status(self, reference: str, ctx: ApiContext) -> dict[str, Any]:
        return self._flows.status(reference, correlation_id=ctx.correlation_id)

    def receipt(self, reference: str, ctx: ApiContext) -> bytes:
        return self._flows.receipt(reference, correlation_id=ctx.correlation_id)


class CallbackService:
    """``CallbackPort``: the portal's pushes and the payment platform's confirms."""

    def __init__(self, dossiers: DossierFlows, payments: PaymentFlows) -> None:
        self._dossiers = dossiers
        self._payments = payments

    def portal_dossier_submitted(
        self, record: Mapping[str, Any], ctx: ApiContext
    ) -> dict[str, Any]:
        accepted = self._dossiers.submitted_on_portal(record, correlation_id=ctx.correlation_id)
        # a repeated push answers the same message id: the dossier is delivered once
        return {"messageId": accepted.message_id, "status": "accepted"}

    def payment_confirmed(self, confirm: Mapping[str, Any], ctx: ApiContext) -> dict[str, Any]:
        body = json.dumps(dict(confirm), ensure_ascii=False).encode("utf-8")
        return self._payments.confirm_callback(body, correlation_id=ctx.correlation_id)
