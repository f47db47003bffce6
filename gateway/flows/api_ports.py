"""The API's ports (``gateway.flows.ports``) implemented on the flows and adapters.

Rules: these classes only translate between the contract's JSON and the flows'
records; every decision (validation, transitions, exactly-once) lives in the flows or
the adapters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.http import CallContext
from adapters.portal.catalogue import procedure_to_portal
from adapters.portal.port import PortalClient
from gateway.domain.identifiers import ProcedureCode
from gateway.flows.payments import PaymentFlows
from gateway.flows.ports import CallContext as ApiContext


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
