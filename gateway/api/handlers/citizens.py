"""Citizen lookup and verification (population database). Nothing here logs the bodies."""

from __future__ import annotations

from typing import Any

from gateway.api.handlers._common import JsonAnswer, answer, call_port
from gateway.api.runtime import require, services


async def lookup_citizen(body: dict[str, Any]) -> JsonAnswer:
    port = require(services().citizens, "citizen lookup")
    return answer(await call_port(port.lookup, body), 200)


async def verify_citizen(body: dict[str, Any]) -> JsonAnswer:
    port = require(services().citizens, "citizen verification")
    return answer(await call_port(port.verify, body), 200)
