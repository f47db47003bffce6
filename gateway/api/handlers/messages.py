"""Status and timeline of one message."""

from __future__ import annotations

from gateway.api.handlers._common import JsonAnswer, answer, call_port
from gateway.api.runtime import require, services


async def get_message(message_id: str) -> JsonAnswer:
    port = require(services().messages, "message tracking")
    return answer(await call_port(port.status, message_id), 200)
