"""Payments: INIT (checkout URL), QUERY (status), GET_BILL (the PDF receipt)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gateway.api.handlers._common import JsonAnswer, answer, call_port
from gateway.api.runtime import require, services


async def create_payment(body: dict[str, Any]) -> JsonAnswer:
    port = require(services().payments, "payment creation")
    return answer(await call_port(port.create, body), 201)


async def get_payment(reference: str) -> JsonAnswer:
    port = require(services().payments, "payment status")
    return answer(await call_port(port.status, reference), 200)


async def get_receipt(reference: str) -> Response:
    port = require(services().payments, "payment receipt")
    pdf = await call_port(port.receipt, reference)
    return Response(
        content=pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="bien-lai-{reference}.pdf"'},
    )
