"""What every handler does: find its port, build the call context, call it off the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway.api.runtime import call_context, recorded_answer
from gateway.flows.ports import CallContext

R = TypeVar("R")


async def call_port(method: Callable[..., R], *args: Any) -> R:
    """Call a (blocking) port method in a worker thread with the request's context last."""
    ctx: CallContext = call_context()
    return await run_in_threadpool(method, *args, ctx)


async def call_port_soon(method: Callable[..., Future[R]], *args: Any) -> R:
    """Call a ``*_soon`` port method here, on the loop, and await the future it answers."""
    return await asyncio.wrap_future(method(*args, call_context()))


JsonAnswer = tuple[Any, int, dict[str, str]]


def answer(body: Any, status: int = 200) -> JsonAnswer:
    """A JSON answer; the media type is explicit because every operation also has problems."""
    return body, status, {"Content-Type": "application/json"}


def recorded_or_answer(body: Any, status: int) -> JsonAnswer | Response:
    """The bytes recorded with the request's Idempotency-Key by its port (an atomic
    operation: ``gateway.api.idempotency``), exactly; else :func:`answer`."""
    recorded = recorded_answer()
    if recorded is None:
        return answer(body, status)
    return Response(recorded, status, media_type="application/json")
