"""A per-partner circuit breaker: closed, open, half-open.

Rules:
- ``closed``: calls pass; ``failure_threshold`` consecutive failures open the circuit.
- ``open``: calls are refused at once with :class:`UpstreamUnavailable` (transient) until
  ``reset_after`` seconds have passed since it opened; then it is ``half_open``.
- ``half_open``: exactly one trial call passes at a time; its success closes the circuit,
  its failure opens it again for another ``reset_after``.
- Only partner-down failures count (timeouts, connection errors, HTTP 5xx and 429, a
  SOAP ``Server`` fault, even one the caller expects): a business refusal (4xx, a SOAP
  ``Client`` fault) or a malformed answer means the partner is up, so they count as
  successes of the link. :class:`~adapters.http.PartnerHttp` decides which is which.
- Every call :meth:`CircuitBreaker.before_call` lets through is settled exactly once, by
  :meth:`~CircuitBreaker.record_success`, :meth:`~CircuitBreaker.record_failure` or
  :meth:`~CircuitBreaker.release`, so a half-open trial is never left in flight (which
  would refuse every later call for good).
- State is per process (design.md, "Scaling out"); :attr:`state` is what ``/readyz`` shows.
- Thread-safe; the clock is injectable so tests drive transitions without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from gateway.domain.errors import UpstreamUnavailable

BreakerState = Literal["closed", "open", "half_open"]


class CircuitOpen(UpstreamUnavailable):
    """The partner's circuit is open: the call was refused without being attempted.

    ``attempted`` is False (the worker spends no attempt on it) and ``retry_after`` says when
    the next trial call will be let through."""

    attempted = False

    def __init__(self, partner: str, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(partner, detail)
        self.retry_after = retry_after


@dataclass(frozen=True)
class BreakerSnapshot:
    """What ``/readyz`` and metrics show for one partner."""

    partner: str
    state: BreakerState
    consecutive_failures: int
    opened_at: float | None


class CircuitBreaker:
    """One partner's breaker; see the module docstring for the rules."""

    def __init__(
        self,
        partner: str,
        *,
        failure_threshold: int = 5,
        reset_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"{partner}: circuit breaker failure_threshold must be >= 1")
        if reset_after <= 0:
            raise ValueError(f"{partner}: circuit breaker reset_after must be > 0 seconds")
        self.partner = partner
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state_locked()

    def _state_locked(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_after:
            return "half_open"
        return "open"

    def snapshot(self) -> BreakerSnapshot:
        with self._lock:
            return BreakerSnapshot(
                self.partner, self._state_locked(), self._failures, self._opened_at
            )

    def before_call(self) -> None:
        """Let a call through or raise :class:`UpstreamUnavailable` (circuit open)."""
        with self._lock:
            state = self._state_locked()
            if state == "closed":
                return
            if state == "half_open" and not self._trial_in_flight:
                self._trial_in_flight = True
                return
            assert self._opened_at is not None
            wait = max(0.0, self.reset_after - (self._clock() - self._opened_at))
        raise CircuitOpen(
            self.partner,
            f"circuit open after {self.failure_threshold} consecutive failures; "
            f"next trial in {wait:.1f} s",
            retry_after=wait,
        )

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            was_trial = self._trial_in_flight
            self._trial_in_flight = False
            self._failures += 1
            if was_trial or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()

    def release(self) -> None:
        """End a call that neither succeeded nor failed the link (e.g. refused locally)."""
        with self._lock:
            self._trial_in_flight = False
