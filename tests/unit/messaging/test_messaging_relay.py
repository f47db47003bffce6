"""The outbox relay against a transport that fails: nothing is dropped, publishing resumes."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.domain.messages import Envelope
from gateway.messaging.port import PublishFailed
from gateway.messaging.relay import OutboxRelay
from gateway.store.messages import Acceptance
from gateway.testing import LocalStack, local_stack
from tests.conftest import outbox_rows


class FlakyTransport:
    """Fails the first ``failures`` publishes, then records what it publishes."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.published: list[str] = []

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise PublishFailed("broker connection lost while publishing")
        self.published += [e.message_id for e in envelopes]


@pytest.fixture
def stack(tmp_path: Path) -> LocalStack:
    stack = local_stack(tmp_path)
    envelopes = [
        stack.signer.sign(
            message_id=f"m-{i}",
            type="portal.dossier.sync",
            recipient="portal",
            body=b"{}",
            correlation_id="c",
        )
        for i in range(5)
    ]
    stack.store.accept_many([Acceptance(e, None, "portal") for e in envelopes])
    return stack


def test_a_failed_publish_leaves_the_batch_in_the_outbox(stack: LocalStack) -> None:
    relay = OutboxRelay(stack.store, FlakyTransport(1), 10, lease=timedelta(milliseconds=100))  # type: ignore[arg-type]
    with pytest.raises(PublishFailed):
        relay.publish_once()
    assert outbox_rows(stack.engine) == 5
    time.sleep(0.15)  # the lease runs out
    assert relay.drain() == 5
    assert outbox_rows(stack.engine) == 0
    assert stack.store.get("m-3").status == "published"  # type: ignore[union-attr]


def test_run_backs_off_and_publishes_when_the_broker_returns(stack: LocalStack) -> None:
    transport = FlakyTransport(2)
    relay = OutboxRelay(
        stack.store,
        transport,
        2,
        lease=timedelta(milliseconds=50),
        backoff=(0.05,),  # type: ignore[arg-type]
    )
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 10
    while outbox_rows(stack.engine) and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(5)
    assert sorted(transport.published) == [f"m-{i}" for i in range(5)]
    assert relay.published == 5


def test_batch_size_must_be_positive(stack: LocalStack) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        OutboxRelay(stack.store, FlakyTransport(0), 0)  # type: ignore[arg-type]


def test_a_failed_batch_is_retried_at_once_not_after_its_lease(stack: LocalStack) -> None:
    transport = FlakyTransport(2)
    relay = OutboxRelay(stack.store, transport, 10, lease=timedelta(seconds=30))  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(PublishFailed):
            relay.publish_once()
    assert relay.publish_once() == 5  # the same rows, still under the relay's lease
    assert sorted(transport.published) == [f"m-{i}" for i in range(5)]
    assert outbox_rows(stack.engine) == 0
    assert relay.publish_once() == 0


def test_a_held_batch_is_let_go_once_half_its_lease_has_passed(stack: LocalStack) -> None:
    transport = FlakyTransport(1)
    relay = OutboxRelay(stack.store, transport, 10, lease=timedelta(milliseconds=200))  # type: ignore[arg-type]
    with pytest.raises(PublishFailed):
        relay.publish_once()
    time.sleep(0.12)  # past half the lease, before its end: another relay may take them soon
    assert relay.publish_once() == 0  # the rows are still leased: not this relay's any more
    time.sleep(0.1)
    assert relay.publish_once() == 5  # taken afresh, with a new lease
    assert transport.published.count("m-0") == 1
