"""Lanes: a batch handled side by side, one dossier's deliveries in order (gateway.messaging.lanes)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.messages import Envelope
from gateway.messaging.lanes import LaneRunner, lanes_of
from gateway.messaging.port import Delivery


def delivery(message_id: str, dossier: str | None) -> Delivery:
    headers = {"x-dossier-code": dossier} if dossier else {}
    envelope = Envelope(
        message_id=message_id,
        type="portal.dossier.sync",
        recipient="portal",
        correlation_id="c",
        timestamp=datetime(2026, 12, 4, tzinfo=UTC),
        body=b"{}",
        jws="",
        headers=headers,
    )
    return Delivery(envelope, 1, "q", "portal.dossier.sync")


def test_one_lane_per_dossier_in_batch_order_and_one_per_message_without_a_code() -> None:
    batch = [
        delivery("a1", "A"),
        delivery("b1", "B"),
        delivery("x", None),
        delivery("a2", "A"),
        delivery("y", None),
    ]
    assert lanes_of(batch, range(5)) == [[0, 3], [1], [2], [4]]
    assert lanes_of(batch, [3, 1]) == [[3], [1]]


@given(st.lists(st.sampled_from(["A", "B", "C", None]), max_size=30))
def test_lanes_partition_the_indices_and_keep_order(codes: list[str | None]) -> None:
    batch = [delivery(f"m{i}", code) for i, code in enumerate(codes)]
    lanes = lanes_of(batch, range(len(batch)))
    assert sorted(i for lane in lanes for i in lane) == list(range(len(batch)))
    for lane in lanes:
        assert lane == sorted(lane)
        assert len({batch[i].envelope.headers.get("x-dossier-code") for i in lane}) == 1


def test_lanes_run_side_by_side_and_a_lane_in_order() -> None:
    runner = LaneRunner(4)
    started = threading.Barrier(3, timeout=5)  # three lanes must be running at once
    seen: list[int] = []
    lock = threading.Lock()

    def handle(index: int) -> None:
        if index in (0, 1, 2):
            started.wait()
        with lock:
            seen.append(index)

    runner.run([[0, 3, 4], [1], [2]], handle)
    runner.close()
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert seen.index(0) < seen.index(3) < seen.index(4)


def test_every_lane_ends_before_the_first_error_in_batch_order_is_raised() -> None:
    runner = LaneRunner(3)
    finished: list[int] = []

    def handle(index: int) -> None:
        if index == 1:
            time.sleep(0.2)
            raise ValueError("lane of 1")
        if index == 2:
            raise KeyError("lane of 2")
        time.sleep(0.3)
        finished.append(index)

    with pytest.raises(ValueError, match="lane of 1"):
        runner.run([[0], [1], [2]], handle)
    assert finished == [0]  # the slow lane ran to its end before the error came out
    runner.close()


def test_concurrency_one_runs_in_the_callers_thread_in_batch_order() -> None:
    runner = LaneRunner(1)
    threads: set[str] = set()
    seen: list[int] = []

    def handle(index: int) -> None:
        threads.add(threading.current_thread().name)
        seen.append(index)

    runner.run([[2, 3], [0], [1]], handle)
    assert seen == [0, 1, 2, 3]
    assert threads == {threading.current_thread().name}


def test_concurrency_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        LaneRunner(0)
