"""Circuit breaker transitions: closed -> open -> half-open -> closed / open again."""

from __future__ import annotations

import pytest

from adapters._breaker import CircuitBreaker, CircuitOpen
from gateway.domain.errors import UpstreamUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_and_refuses_fast() -> None:
    clock = Clock()
    breaker = CircuitBreaker("payment", failure_threshold=3, reset_after=10, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(
        CircuitOpen,
        match=r"payment: circuit open after 3 consecutive failures; next trial in 10\.0 s",
    ) as caught:
        breaker.before_call()
    assert isinstance(caught.value, UpstreamUnavailable) and caught.value.transient


def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker("city", failure_threshold=2, reset_after=5, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.snapshot().consecutive_failures == 1


def test_half_open_lets_one_trial_through_and_success_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker("population", failure_threshold=1, reset_after=5, clock=clock)
    breaker.record_failure()
    clock.now += 5
    assert breaker.state == "half_open"
    breaker.before_call()  # the trial
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # a second caller while the trial is in flight
    breaker.record_success()
    assert breaker.state == "closed"
    breaker.before_call()


def test_half_open_failure_opens_again_for_a_full_period() -> None:
    clock = Clock()
    breaker = CircuitBreaker("warehouse", failure_threshold=4, reset_after=5, clock=clock)
    for _ in range(4):
        breaker.record_failure()
    clock.now += 6
    breaker.before_call()
    breaker.record_failure()  # one failed trial is enough
    assert breaker.state == "open"
    clock.now += 4.9
    assert breaker.state == "open"
    clock.now += 0.1
    assert breaker.state == "half_open"


def test_release_frees_the_trial_slot() -> None:
    clock = Clock()
    breaker = CircuitBreaker("portal", failure_threshold=1, reset_after=1, clock=clock)
    breaker.record_failure()
    clock.now += 1
    breaker.before_call()
    breaker.release()
    breaker.before_call()  # another trial allowed


@pytest.mark.parametrize(("threshold", "reset"), [(0, 1.0), (1, 0.0)])
def test_bad_settings_are_refused(threshold: int, reset: float) -> None:
    with pytest.raises(ValueError, match="circuit breaker"):
        CircuitBreaker("x", failure_threshold=threshold, reset_after=reset)
