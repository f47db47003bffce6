"""The store's figures are cached: scrapes, however many and however concurrent, cost at
most one set of store queries per interval, and a stale snapshot is refreshed off the
scrape (in a background thread)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import event
from test_metrics_store import SYNC, accept

from gateway.metrics import StoreCollector, register_store_metrics
from gateway.testing import LocalStack, local_stack

SCRAPES = 40


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    stack = local_stack(tmp_path)
    yield stack
    stack.evidence.close()
    stack.engine.dispose()


class QueryCount:
    """SELECTs run on an engine (a SQLAlchemy ``before_cursor_execute`` listener)."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        self._lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            with self._lock:
                self.count += 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def one_set(stack: LocalStack) -> int:
    """How many SELECTs one computation of the figures runs (uncached collector)."""
    queries = QueryCount(stack.engine)
    list(StoreCollector(stack.engine).collect())
    return queries.count


def scrape_concurrently(registry: CollectorRegistry) -> list[bytes]:
    barrier = threading.Barrier(SCRAPES)

    def scrape(_: int) -> bytes:
        barrier.wait()
        return generate_latest(registry)

    with ThreadPoolExecutor(SCRAPES) as pool:
        return list(pool.map(scrape, range(SCRAPES)))


def join_refreshers() -> None:
    for thread in threading.enumerate():
        if thread.name == "store-metrics":
            thread.join(timeout=10)


def test_forty_concurrent_scrapes_cost_one_set_of_queries_per_interval(
    stack: LocalStack,
) -> None:
    per_set = one_set(stack)
    assert per_set >= 5
    clock = Clock()
    registry = CollectorRegistry()
    registry.register(StoreCollector(stack.engine, cache_seconds=5, monotonic=clock))
    queries = QueryCount(stack.engine)

    answers = scrape_concurrently(registry)  # the first scrapes share one computation
    assert queries.count == per_set
    assert all(b"tthc_outbox_pending 0.0" in answer for answer in answers)

    clock.now += 4.9  # within the interval: no query at all
    scrape_concurrently(registry)
    assert queries.count == per_set

    clock.now += 0.2  # stale: ONE refresh, in the background; the scrapes answer at once
    scrape_concurrently(registry)
    join_refreshers()
    assert queries.count == 2 * per_set


def test_a_stale_scrape_answers_the_last_figures_then_the_refreshed_ones(
    stack: LocalStack,
) -> None:
    clock = Clock()
    registry = CollectorRegistry()
    registry.register(StoreCollector(stack.engine, cache_seconds=5, monotonic=clock))
    assert b"tthc_outbox_pending 0.0" in generate_latest(registry)
    accept(stack.store, SYNC)
    assert b"tthc_outbox_pending 0.0" in generate_latest(registry)  # cached
    clock.now += 6
    assert b"tthc_outbox_pending 0.0" in generate_latest(registry)  # stale: refreshing
    join_refreshers()
    assert b"tthc_outbox_pending 1.0" in generate_latest(registry)


def test_the_processes_register_a_cached_collector(stack: LocalStack) -> None:
    registry = CollectorRegistry()
    register_store_metrics(registry, stack.engine, cache_seconds=5)
    queries = QueryCount(stack.engine)
    for _ in range(5):
        generate_latest(registry)
    assert 0 < queries.count <= one_set(stack)
