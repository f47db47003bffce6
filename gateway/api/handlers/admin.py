"""Operators: find messages, see one, replay one or many (every replay carries a reason)."""

from __future__ import annotations

from typing import Any

from gateway.api.handlers._common import JsonAnswer, answer, call_port
from gateway.api.runtime import require, services


async def list_messages(
    status: str | None = None,
    type_: str | None = None,
    partner: str | None = None,
    dossier_code: str | None = None,
    from_: str | None = None,
    to: str | None = None,
    error: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> JsonAnswer:
    port = require(services().messages, "message search")
    given = {
        "status": status,
        "type": type_,
        "partner": partner,
        "dossierCode": dossier_code,
        "from": from_,
        "to": to,
        "error": error,
    }
    filters = {name: value for name, value in given.items() if value is not None}
    return answer(await call_port(port.search, filters, limit, offset), 200)


async def get_message_detail(message_id: str) -> JsonAnswer:
    port = require(services().messages, "message detail")
    return answer(await call_port(port.detail, message_id), 200)


async def replay_message(message_id: str, body: dict[str, Any]) -> JsonAnswer:
    port = require(services().messages, "message replay")
    return answer(await call_port(port.replay, message_id, body["reason"]), 202)


async def bulk_replay(body: dict[str, Any]) -> JsonAnswer:
    port = require(services().messages, "bulk replay")
    request = {"dryRun": False, "limit": 1000} | body
    return answer(await call_port(port.bulk_replay, request), 200)
