"""Observing partner calls: the port :class:`~adapters.http.PartnerHttp` reports to.

Rules: one report per call, once it is over, retries and backoff included in its
duration; the outcome is one of :data:`CallOutcome`, derived from the error the call
raised (:func:`call_outcome`). Nothing here knows a metrics library; the gateway's
``gateway.metrics`` implements :class:`CallObserver` with Prometheus.
"""

from __future__ import annotations

from typing import Literal, Protocol

from adapters._breaker import CircuitOpen
from gateway.domain.errors import (
    UpstreamMalformed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = ["CALL_OUTCOMES", "CallObserver", "CallOutcome", "NoCallObserver", "call_outcome"]

CallOutcome = Literal[
    "ok", "timeout", "unavailable", "rejected", "malformed", "circuit_open", "error"
]


class CallObserver(Protocol):
    """Told about every partner call once it is over (e.g. metrics)."""

    def observe(self, partner: str, operation: str, outcome: CallOutcome, seconds: float) -> None:
        """``seconds`` covers the whole call, retries and backoff included."""


class NoCallObserver:
    """The default observer: does nothing."""

    def observe(self, partner: str, operation: str, outcome: CallOutcome, seconds: float) -> None:
        return None


def call_outcome(error: BaseException | None) -> CallOutcome:
    """The outcome label for a call that raised ``error`` (``None``: it succeeded)."""
    if error is None:
        return "ok"
    if isinstance(error, CircuitOpen):
        return "circuit_open"
    if isinstance(error, UpstreamTimeout):
        return "timeout"
    if isinstance(error, UpstreamUnavailable):
        return "unavailable"
    if isinstance(error, UpstreamRejected):
        return "rejected"
    if isinstance(error, UpstreamMalformed):
        return "malformed"
    return "error"


CALL_OUTCOMES: tuple[CallOutcome, ...] = (
    "ok",
    "timeout",
    "unavailable",
    "rejected",
    "malformed",
    "circuit_open",
    "error",
)
