"""gateway.futures.then: results, errors and cancellation."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from gateway.futures import then


def test_the_result_is_mapped_once_the_source_resolves() -> None:
    source: Future[int] = Future()
    mapped = then(source, lambda n: n * 2)
    assert not mapped.done()
    source.set_result(21)
    assert mapped.result(timeout=1) == 42


def test_an_already_resolved_source_maps_at_once() -> None:
    source: Future[int] = Future()
    source.set_result(1)
    assert then(source, str).result(timeout=1) == "1"


def test_errors_of_the_source_and_of_the_function_reach_the_waiter() -> None:
    source: Future[int] = Future()
    mapped = then(source, lambda n: n)
    source.set_exception(KeyError("gone"))
    with pytest.raises(KeyError, match="gone"):
        mapped.result(timeout=1)
    failing = then(_resolved(0), lambda n: 1 // n)
    with pytest.raises(ZeroDivisionError):
        failing.result(timeout=1)


def test_cancelling_the_mapped_future_leaves_the_source_alone() -> None:
    source: Future[int] = Future()
    mapped = then(source, lambda n: n)
    assert mapped.cancel()
    source.set_result(5)  # no InvalidStateError from the callback
    assert source.result() == 5 and mapped.cancelled()


def test_a_cancelled_source_is_an_error_for_the_waiter() -> None:
    source: Future[int] = Future()
    mapped = then(source, lambda n: n)
    source.cancel()
    with pytest.raises(RuntimeError, match="cancelled"):
        mapped.result(timeout=1)


def _resolved(value: int) -> Future[int]:
    future: Future[int] = Future()
    future.set_result(value)
    return future
