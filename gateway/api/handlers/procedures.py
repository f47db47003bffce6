"""Procedure catalogue lookup (cached by the service behind the port)."""

from __future__ import annotations

from gateway.api.handlers._common import JsonAnswer, answer, call_port
from gateway.api.runtime import require, services


async def get_procedure(procedure_code: str) -> JsonAnswer:
    port = require(services().procedures, "procedure catalogue")
    return answer(await call_port(port.get_procedure, procedure_code), 200)
