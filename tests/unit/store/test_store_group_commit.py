"""Group commit: batched writes, one savepoint per item, futures resolved after the commit."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection

from gateway.domain.errors import Conflict
from gateway.store.db import read_tx
from gateway.store.group_commit import GroupCommit, group_commit, run_write


@pytest.fixture
def probe(engine: Engine) -> Engine:
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE gc_probe (id TEXT PRIMARY KEY)")
    return engine


def _insert(value: str) -> Any:
    def work(connection: Connection) -> str:
        connection.execute(text("INSERT INTO gc_probe (id) VALUES (:v)"), {"v": value})
        return value

    return work


def _stored(engine: Engine) -> set[str]:
    with read_tx(engine) as connection:
        return {row[0] for row in connection.execute(text("SELECT id FROM gc_probe"))}


def test_concurrent_items_share_transactions_and_each_gets_its_result(probe: Engine) -> None:
    committer = GroupCommit(probe, max_wait=0.005)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: committer.run(_insert(f"v{i}")), range(40)))
    assert results == [f"v{i}" for i in range(40)]
    assert _stored(probe) == set(results)
    assert committer.items == 40
    assert committer.batches < 40  # at least two items shared a commit


def test_a_refused_item_is_rolled_back_alone(probe: Engine) -> None:
    committer = GroupCommit(probe, max_wait=0.05)

    def refuse(connection: Connection) -> None:
        connection.execute(text("INSERT INTO gc_probe (id) VALUES ('refused')"))
        raise Conflict("dossier D-1: illegal transition")

    futures = [
        committer.submit(_insert("a")),
        committer.submit(refuse),
        committer.submit(_insert("b")),
        committer.submit(_insert("a")),  # duplicate key: IntegrityError in its savepoint
    ]
    assert futures[0].result(5) == "a"
    with pytest.raises(Conflict, match="illegal transition"):
        futures[1].result(5)
    assert futures[2].result(5) == "b"
    with pytest.raises(Exception, match="UNIQUE"):
        futures[3].result(5)
    assert _stored(probe) == {"a", "b"}


def test_the_future_resolves_only_after_the_commit(probe: Engine) -> None:
    committer = GroupCommit(probe)
    seen: list[set[str]] = []
    done = threading.Event()

    def on_done(_future: Future[Any]) -> None:
        seen.append(_stored(probe))  # another connection: sees only committed rows
        done.set()

    committer.submit(_insert("durable")).add_done_callback(on_done)
    assert done.wait(5)
    assert seen == [{"durable"}]


def test_a_failed_commit_fails_every_item_of_the_batch(probe: Engine) -> None:
    committer = GroupCommit(probe, max_wait=0.05)

    def fail(_connection: Any) -> None:
        raise OSError("disk full")

    event.listen(probe, "commit", fail)
    try:
        futures = [committer.submit(_insert(v)) for v in ("x", "y")]
        for future in futures:
            with pytest.raises(OSError, match="disk full"):
                future.result(5)
    finally:
        event.remove(probe, "commit", fail)
    assert _stored(probe) == set()
    assert committer.run(_insert("z")) == "z"  # the committer goes on


def test_the_thread_stops_when_idle_and_starts_again(probe: Engine) -> None:
    committer = GroupCommit(probe, idle=0.05)
    assert committer.run(_insert("one")) == "one"
    deadline = time.monotonic() + 5
    while committer._thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert committer._thread is None
    assert committer.run(_insert("two")) == "two"
    assert _stored(probe) == {"one", "two"}


def test_only_sqlite_gets_a_committer(probe: Engine) -> None:
    assert group_commit(probe) is group_commit(probe)
    assert run_write(probe, _insert("via-run-write")) == "via-run-write"
    postgres = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        assert group_commit(postgres) is None
    finally:
        postgres.dispose()


def test_max_batch_must_be_positive(probe: Engine) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommit(probe, max_batch=0)


def test_a_batch_without_refusals_uses_no_savepoints(probe: Engine) -> None:
    committer = GroupCommit(probe, max_wait=0.05)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(probe, "before_cursor_execute", seen)
    try:
        futures = [committer.submit(_insert(v)) for v in ("p", "q", "r")]
        assert [f.result(5) for f in futures] == ["p", "q", "r"]
    finally:
        event.remove(probe, "before_cursor_execute", seen)
    assert not [s for s in statements if "SAVEPOINT" in s.upper()]
    assert _stored(probe) == {"p", "q", "r"}


def test_a_work_item_cannot_wait_for_another_batch(probe: Engine) -> None:
    committer = GroupCommit(probe)

    def nested(_connection: Connection) -> str:
        return committer.run(_insert("inner"))

    with pytest.raises(RuntimeError, match="cannot wait for another batch"):
        committer.run(nested)
    assert committer.run(_insert("after")) == "after"
    assert _stored(probe) == {"after"}
