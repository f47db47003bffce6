"""``GET /readyz``: run the readiness checks concurrently, each with its own timeout, cached.

Rules:
- A check passes when its probe returns, fails when it raises or runs out of time; the
  detail says which: a probe's returned text (e.g. ``circuit open``; probes must not put
  credentials in it), ``timed out after N s``, or the exception's TYPE only. No
  exception's message is ever shown, whichever probe raised it: a database's, a
  broker client's or a socket's message names hosts, ports, users or vhosts (and a
  broker URL carries its password). The store unavailable reads ``store unavailable
  (OperationalError)``; anything else its type, e.g. ``AMQPConnectionError``. Nothing is
  cached across a failure longer than ``cache_seconds``, so a database back up reads
  ``ok`` again at the next evaluation.
- Async probes are awaited; sync probes run in a worker thread (a hung sync probe keeps
  its thread until it returns, but the answer does not wait for it).
- Results are cached for ``cache_seconds`` so a load balancer polling every instance
  cannot turn readiness into load on the database or the broker; concurrent requests
  share one evaluation.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from gateway.api.services import ReadinessCheck
from gateway.store.outage import is_store_unavailable


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    duration_ms: float

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail[:500],
            "durationMs": round(self.duration_ms, 1),
        }


def failure_detail(error: BaseException) -> str:
    """What a failed check says about ``error`` (see the module rules)."""
    if is_store_unavailable(error):
        return f"store unavailable ({type(error).__name__})"
    return type(error).__name__


async def run_check(check: ReadinessCheck) -> CheckResult:
    started = time.perf_counter()

    async def call() -> object:
        if inspect.iscoroutinefunction(check.probe):
            return await check.probe()
        result = await run_in_threadpool(check.probe)
        if inspect.isawaitable(result):
            return await result
        return result

    try:
        result = await asyncio.wait_for(call(), timeout=check.timeout)
    except TimeoutError:
        ok, detail = False, f"timed out after {check.timeout:g} s"
    except Exception as error:  # noqa: BLE001 - a failing probe is a result, not a crash
        ok, detail = False, failure_detail(error)
    else:
        ok, detail = (
            True,
            result.strip()[:200] if isinstance(result, str) and result.strip() else "ok",
        )
    return CheckResult(check.name, ok, detail, (time.perf_counter() - started) * 1000)


class Readiness:
    """Evaluates the checks, caching the results for ``cache_seconds``."""

    def __init__(self, checks: Sequence[ReadinessCheck], cache_seconds: float) -> None:
        self._checks = tuple(checks)
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, tuple[CheckResult, ...]] | None = None
        self._lock: asyncio.Lock | None = None

    async def results(self) -> tuple[CheckResult, ...]:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self._cache_seconds:
                return self._cached[1]
            results = tuple(await asyncio.gather(*(run_check(c) for c in self._checks)))
            self._cached = (time.monotonic(), results)
            return results
