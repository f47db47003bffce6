"""Worker liveness on a real SQLite store: takeover of dead workers' claims, renewal, heartbeat.

The same rules run on PostgreSQL in tests/integration/store/test_pg_liveness.py.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from gateway.messaging.embedded import EmbeddedTransport, queue_messages
from gateway.messaging.liveness import Liveness
from gateway.store import make_engine, upgrade
from gateway.store.db import utcnow
from gateway.store.ledger import Ledger
from gateway.store.schema import processed, workers
from gateway.store.workers import WorkerRegistry, new_worker_id

LEASE = timedelta(minutes=5)
DEAD_AFTER = timedelta(seconds=10)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    upgrade(url)
    return make_engine(url)


def silence(engine: Engine, worker_id: str, seconds: float = 60) -> None:
    """Make ``worker_id``'s last heartbeat ``seconds`` old (as if its process was killed)."""
    with engine.begin() as connection:
        connection.execute(
            update(workers)
            .where(workers.c.worker_id == worker_id)
            .values(heartbeat_at=utcnow() - timedelta(seconds=seconds))
        )


def ledger_for(engine: Engine, worker_id: str) -> Ledger:
    return Ledger(engine, worker_id=worker_id, dead_after=DEAD_AFTER)


def test_a_claim_names_its_worker(engine: Engine) -> None:
    WorkerRegistry(engine).register("w-a")
    ledger_for(engine, "w-a").claim("c", "m-1", LEASE)
    with engine.connect() as connection:
        assert connection.execute(select(processed.c.worker_id)).scalar_one() == "w-a"


def test_a_dead_workers_claim_is_taken_over_at_once_long_before_its_lease_ends(
    engine: Engine,
) -> None:
    registry = WorkerRegistry(engine, dead_after=DEAD_AFTER)
    registry.register("w-dead")
    registry.register("w-new")
    assert ledger_for(engine, "w-dead").claim("c", "m-1", LEASE).owned
    silence(engine, "w-dead")
    claim = ledger_for(engine, "w-new").claim("c", "m-1", LEASE)
    assert claim.owned and claim.taken_over
    with engine.connect() as connection:
        assert connection.execute(select(processed.c.worker_id)).scalar_one() == "w-new"


def test_a_live_workers_claim_is_never_taken_over(engine: Engine) -> None:
    registry = WorkerRegistry(engine, dead_after=DEAD_AFTER)
    registry.register("w-slow")
    registry.register("w-other")
    ledger_for(engine, "w-slow").claim("c", "m-1", LEASE)
    claim = ledger_for(engine, "w-other").claim("c", "m-1", LEASE)
    assert (claim.state, claim.holder) == ("busy", "w-slow")


def test_a_worker_that_deregistered_frees_its_claims_at_once(engine: Engine) -> None:
    registry = WorkerRegistry(engine, dead_after=DEAD_AFTER)
    registry.register("w-a")
    registry.register("w-b")
    ledger_for(engine, "w-a").claim("c", "m-1", LEASE)
    registry.deregister("w-a")
    assert ledger_for(engine, "w-b").claim("c", "m-1", LEASE).taken_over


def test_an_unregistered_holder_counts_as_dead_but_a_claim_without_holder_only_expires(
    engine: Engine,
) -> None:
    WorkerRegistry(engine).register("w-b")
    ledger_for(engine, "w-ghost").claim("c", "m-1", LEASE)  # never registered: dead
    assert ledger_for(engine, "w-b").claim("c", "m-1", LEASE).taken_over
    Ledger(engine).claim("c", "m-2", LEASE)  # no worker id: lease only
    assert ledger_for(engine, "w-b").claim("c", "m-2", LEASE).state == "busy"


def test_renewal_keeps_a_slow_handlers_claim_past_its_first_lease(engine: Engine) -> None:
    WorkerRegistry(engine).register("w-a")
    short = timedelta(milliseconds=300)
    ledger = ledger_for(engine, "w-a")
    claim = ledger.claim("c", "m-1", short)
    assert claim.token is not None
    assert ledger.renew("c", {claim.token: ["m-1"]}, timedelta(seconds=60)) == 1
    time.sleep(0.4)  # the first lease has run out
    assert ledger_for(engine, "w-b").claim("c", "m-1", LEASE).state == "busy"
    ledger.complete("c", "m-1", {}, token=claim.token)
    assert ledger.renew("c", {claim.token: ["m-1"]}, timedelta(seconds=60)) == 0  # done: left


def test_heartbeat_keeps_a_worker_alive_and_a_missing_registration_is_made_again(
    engine: Engine,
) -> None:
    registry = WorkerRegistry(engine, dead_after=DEAD_AFTER)
    renewed: list[tuple[str, timedelta]] = []
    liveness = Liveness(
        registry,
        interval=0.05,
        lease=timedelta(seconds=1),
        worker_id="w-a",
        renewers=[lambda worker_id, lease: renewed.append((worker_id, lease))],
    )
    liveness.register()
    silence(engine, "w-a")
    liveness.beat()
    assert [w.alive for w in registry.list()] == [True]
    assert renewed == [("w-a", timedelta(seconds=1))]
    registry.purge(older_than=timedelta(0))
    liveness.beat()  # gone (purged): registered again
    assert [w.worker_id for w in registry.list()] == ["w-a"]


def test_the_heartbeat_loop_survives_failures_and_deregisters_on_stop(engine: Engine) -> None:
    registry = WorkerRegistry(engine, dead_after=DEAD_AFTER)
    calls = {"n": 0}

    def flaky(_worker_id: str, _lease: timedelta) -> None:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise RuntimeError("database away")

    liveness = Liveness(
        registry, interval=0.02, lease=timedelta(seconds=1), worker_id="w-a", renewers=[flaky]
    )
    liveness.register()
    stop = threading.Event()
    thread = threading.Thread(target=liveness.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 5
    while calls["n"] < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=5)
    assert calls["n"] >= 6  # it went on beating after the failures
    assert [w.alive for w in registry.list()] == [False]  # deregistered


def test_liveness_refuses_a_lease_shorter_than_two_beats(engine: Engine) -> None:
    with pytest.raises(ValueError, match="lease"):
        Liveness(WorkerRegistry(engine), interval=1.0, lease=timedelta(seconds=1.5))


def test_worker_ids_are_unique_and_fit_the_columns() -> None:
    ids = {new_worker_id() for _ in range(100)}
    assert len(ids) == 100 and max(len(i) for i in ids) <= 64


# -- the embedded queue -----------------------------------------------------------------------


def _queued(engine: Engine, owner: str | None, visible_in: float) -> int:
    now = utcnow()
    with engine.begin() as connection:
        result = connection.execute(
            queue_messages.insert().values(
                queue="tthc.portal.dossier.sync",
                message_id=f"m-{owner}-{visible_in}",
                type="portal.dossier.sync",
                correlation_id="c",
                body=b"{}",
                headers={},
                attempt=1,
                enqueued_at=now,
                visible_at=now + timedelta(seconds=visible_in),
                lease_owner=owner,
            )
        )
        return int(result.inserted_primary_key[0])


def test_embedded_rows_of_a_dead_worker_are_claimable_at_once(engine: Engine) -> None:
    registry = WorkerRegistry(engine, dead_after=DEAD_AFTER)
    registry.register("w-live")
    registry.register("w-dead")
    silence(engine, "w-dead")
    dead_row = _queued(engine, "w-dead", 300)
    _queued(engine, "w-live", 300)
    transport = EmbeddedTransport(engine, dead_after=DEAD_AFTER)
    claimed = transport._claim(["tthc.portal.dossier.sync"], 10)
    assert [row["id"] for row in claimed] == [dead_row]


def test_embedded_renewal_covers_only_the_rows_in_hand(engine: Engine) -> None:
    transport = EmbeddedTransport(engine, dead_after=DEAD_AFTER)
    transport.consumer_id = "w-a"
    held = _queued(engine, "w-a", 1)
    leaked = _queued(engine, "w-a", 1)
    transport._in_hand.add(held)
    transport.renew("w-a", timedelta(minutes=10))
    with engine.connect() as connection:
        visible = dict(
            connection.execute(select(queue_messages.c.id, queue_messages.c.visible_at)).all()
        )
    assert visible[held] > utcnow() + timedelta(minutes=9)
    assert visible[leaked] < utcnow() + timedelta(seconds=2)
