"""Operations endpoints: liveness, readiness, metrics, the signing keys' JWKS."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway.api.handlers._common import JsonAnswer, answer
from gateway.api.problems import PROBLEM_MEDIA_TYPE, encode
from gateway.api.runtime import correlation_id, current_runtime, require


async def healthz() -> JsonAnswer:
    return answer({"status": "ok"})


async def readyz() -> Response | JsonAnswer:
    results = await current_runtime().readiness.results()
    checks = [result.as_json() for result in results]
    failed = [result.name for result in results if not result.ok]
    if not failed:
        return answer({"status": "ready", "checks": checks})
    body = {
        "type": "https://tthc-gateway.hanoi.gov.vn/problems/not-ready",
        "title": "Not ready",
        "status": 503,
        "detail": f"failed checks: {', '.join(failed)}",
        "code": "not_ready",
        "correlationId": correlation_id(),
        "checks": checks,
    }
    return Response(encode(body), status_code=503, media_type=PROBLEM_MEDIA_TYPE)


async def metrics() -> Response:
    registry = current_runtime().services.metrics_registry
    # collectors may read the database (message and outbox figures): off the event loop
    exposition = await run_in_threadpool(generate_latest, registry)
    return Response(exposition, media_type=CONTENT_TYPE_LATEST)


async def jwks() -> JsonAnswer:
    provider = require(current_runtime().services.jwks_provider, "the signing key set")
    key_set = await run_in_threadpool(provider)
    return answer(dict(key_set))
