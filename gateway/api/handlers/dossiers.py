"""Dossier operations: sync a dossier, push progress (both queued), read the portal's status."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gateway.api.handlers._common import (
    JsonAnswer,
    answer,
    call_port,
    call_port_soon,
    recorded_or_answer,
)
from gateway.api.runtime import require, services


async def sync_dossier(body: dict[str, Any]) -> JsonAnswer | Response:
    port = require(services().dossiers, "dossier sync")
    return recorded_or_answer(await call_port_soon(port.sync_dossier_soon, body), 202)


async def push_progress(dossier_code: str, body: dict[str, Any]) -> JsonAnswer | Response:
    port = require(services().dossiers, "dossier progress")
    answer_ = await call_port_soon(port.push_progress_soon, dossier_code, body)
    return recorded_or_answer(answer_, 202)


async def portal_status(dossier_code: str) -> JsonAnswer:
    port = require(services().dossiers, "portal status lookup")
    return answer(await call_port(port.portal_status, dossier_code), 200)
