"""What every handler does: find its port, build the call context, call it off the loop;
render what a flow function answered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from connexion.context import scope
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway.api.idempotency import keyed_answer
from gateway.api.runtime import call_context
from gateway.flows.dossiers import Queued
from gateway.flows.idempotency import KeyedAnswer
from gateway.flows.ports import CallContext

R = TypeVar("R")


async def call_port(method: Callable[..., R], *args: Any) -> R:
    """Call a (blocking) port method in a worker thread with the request's context last."""
    ctx: CallContext = call_context()
    return await run_in_threadpool(method, *args, ctx)


JsonAnswer = tuple[Any, int, dict[str, str]]


def answer(body: Any, status: int = 200) -> JsonAnswer:
    """A JSON answer; the media type is explicit because every operation also has problems."""
    return body, status, {"Content-Type": "application/json"}


def request_key() -> KeyedAnswer | None:
    """The request's ``Idempotency-Key`` for an atomic operation's command, as the
    idempotency middleware handed it over (``gateway.api.idempotency``)."""
    return keyed_answer(scope)


def accepted(queued: Queued) -> Response:
    """``202`` with the queued message's answer: exactly the bytes recorded with its key."""
    return Response(queued.answer, 202, media_type="application/json")
