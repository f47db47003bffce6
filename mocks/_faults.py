"""Fault specifications for the mocks' control API (``POST /_mock/faults``).

A fault is installed for one route (``"POST /rest/login"``: method and path relative to the
partner prefix; ``"*"`` for every route, or ``"POST *"`` for every path of one method) and
stays active for ``count`` matched calls, or until ``POST /_mock/reset`` when ``count`` is
null. Rules:

- Each matched call first draws against ``error_rate`` (0..1, default 1): when the draw
  fails the call goes through untouched (but still consumes the count).
- ``latency_ms`` is added before answering.
- ``timeout`` makes the call hang past the client's timeout (in-process: ``ReadTimeout``).
- ``status`` answers that HTTP status in the partner's error form; ``soap_fault`` answers a
  SOAP Fault; ``expired_session`` answers the partner's authentication error.
- ``malformed`` corrupts the handler's answer; ``oversized_bytes`` pads it to at least that
  many bytes (whitespace, so the content is intact but too big for a size-capped client).
- A spec with nothing but ``error_rate`` answers HTTP 500 in the partner's error form.

Validation is strict: unknown keys, wrong types and out-of-range values are refused with a
message naming the key (the control API turns it into a 400).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_ROUTE_RE = re.compile(r"^(\*|(GET|POST|PUT|PATCH|DELETE|HEAD) (\*|/[^\s]*))$")
_KEYS = {
    "route",
    "latency_ms",
    "error_rate",
    "status",
    "timeout",
    "malformed",
    "oversized_bytes",
    "soap_fault",
    "expired_session",
    "count",
}
MAX_LATENCY_MS = 120_000
MAX_OVERSIZED_BYTES = 64 * 1024 * 1024


class FaultSpecError(ValueError):
    """A fault specification is invalid; the message names the key and the problem."""


@dataclass(frozen=True)
class FaultSpec:
    """One fault to inject; see the module docstring for the meaning of each field."""

    route: str = "*"
    latency_ms: int = 0
    error_rate: float = 1.0
    status: int | None = None
    timeout: bool = False
    malformed: bool = False
    oversized_bytes: int | None = None
    soap_fault: bool = False
    expired_session: bool = False
    count: int | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a call of ``method`` on ``path``."""
        if self.route == "*":
            return True
        route_method, route_path = self.route.split(" ", 1)
        if route_method != method.upper():
            return False
        return route_path in ("*", path)

    @property
    def is_error_only(self) -> bool:
        """True when the spec names no effect but an error rate: answer a plain 500."""
        return not (
            self.latency_ms
            or self.status is not None
            or self.timeout
            or self.malformed
            or self.oversized_bytes is not None
            or self.soap_fault
            or self.expired_session
        )

    def as_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data (for ``GET /_mock/state`` and the requests log)."""
        return {key: getattr(self, key) for key in sorted(_KEYS)}


def _int(data: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultSpecError(f"fault field {key!r} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise FaultSpecError(f"fault field {key!r} must be between {low} and {high}, got {value}")
    return value


def _bool(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise FaultSpecError(f"fault field {key!r} must be true or false, got {value!r}")
    return value


def parse_fault_spec(data: object) -> FaultSpec:
    """Validate control-API JSON into a :class:`FaultSpec`; raise :class:`FaultSpecError`."""
    if not isinstance(data, dict):
        raise FaultSpecError("fault specification must be a JSON object")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise FaultSpecError(f"unknown fault field(s): {', '.join(unknown)}")
    route = data.get("route", "*")
    if not isinstance(route, str) or not _ROUTE_RE.match(route):
        raise FaultSpecError(
            f"fault field 'route' must be '*' or 'METHOD /path' (or 'METHOD *'), got {route!r}"
        )
    rate = data.get("error_rate", 1.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise FaultSpecError(f"fault field 'error_rate' must be a number in [0, 1], got {rate!r}")
    spec = FaultSpec(
        route=route,
        latency_ms=_int(data, "latency_ms", 0, MAX_LATENCY_MS) or 0,
        error_rate=float(rate),
        status=_int(data, "status", 100, 599),
        timeout=_bool(data, "timeout"),
        malformed=_bool(data, "malformed"),
        oversized_bytes=_int(data, "oversized_bytes", 1, MAX_OVERSIZED_BYTES),
        soap_fault=_bool(data, "soap_fault"),
        expired_session=_bool(data, "expired_session"),
        count=_int(data, "count", 1, 1_000_000),
    )
    exclusive = [
        name
        for name, on in (
            ("status", spec.status is not None),
            ("timeout", spec.timeout),
            ("soap_fault", spec.soap_fault),
            ("expired_session", spec.expired_session),
        )
        if on
    ]
    if len(exclusive) > 1:
        raise FaultSpecError(f"fault fields {', '.join(exclusive)} cannot be combined")
    return spec
