"""MessageStore on SQLite: accept + outbox atomicity, outbox leases, timeline, listing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text

from gateway.domain.errors import Conflict
from gateway.domain.messages import Envelope, MessageStatus, MessageType
from gateway.envelope import EnvelopeSigner, EnvelopeVerifier
from gateway.keys import KeyStore
from gateway.store import Acceptance, EventKind, EventRecord, MessageStore
from gateway.store.schema import message_events, messages, outbox

DOSSIER = "000.00.00.H26-241120-0001"


@pytest.fixture
def store(engine: Engine) -> MessageStore:
    return MessageStore(engine)


@pytest.fixture
def signer(keystore: KeyStore) -> EnvelopeSigner:
    return EnvelopeSigner(keystore)


def make(
    signer: EnvelopeSigner, message_id: str, body: bytes = b'{"n":1}', **headers: str
) -> Envelope:
    return signer.sign(
        message_id=message_id,
        type=MessageType.PORTAL_DOSSIER_SYNC,
        recipient="portal",
        body=body,
        correlation_id=f"corr-{message_id}",
        headers=headers,
    )


def count(engine: Engine, table: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_accept_writes_message_outbox_and_accepted_event(
    store: MessageStore, signer: EnvelopeSigner, engine: Engine
) -> None:
    envelope = make(signer, "m-1")
    assert store.accept(envelope, dossier_code=DOSSIER, partner="portal") is True
    view = store.get("m-1")
    assert view is not None
    assert (view.status, view.attempts, view.dossier_code, view.partner) == (
        "accepted",
        0,
        DOSSIER,
        "portal",
    )
    assert [e.event for e in view.timeline] == ["accepted"]
    assert [e.message_id for e in store.pending_outbox(10)] == ["m-1"]
    assert count(engine, outbox) == 1


def test_accept_is_idempotent_and_refuses_another_body_under_the_same_id(
    store: MessageStore, signer: EnvelopeSigner, engine: Engine
) -> None:
    envelope = make(signer, "m-1")
    store.accept(envelope, dossier_code=DOSSIER, partner="portal")
    assert store.accept(envelope, dossier_code=DOSSIER, partner="portal") is False
    assert (count(engine, messages), count(engine, outbox), count(engine, message_events)) == (
        1,
        1,
        1,
    )
    with pytest.raises(Conflict, match="m-1"):
        store.accept(make(signer, "m-1", b'{"n":2}'), dossier_code=DOSSIER, partner="portal")


def test_accept_is_atomic_when_the_outbox_insert_fails(
    store: MessageStore, signer: EnvelopeSigner, engine: Engine
) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox WHEN NEW.message_id = 'boom' "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        )
    batch = [Acceptance(make(signer, mid), DOSSIER, "portal") for mid in ("ok-1", "boom", "ok-2")]
    with pytest.raises(Exception, match="disk full"):
        store.accept_many(batch)
    with pytest.raises(Exception, match="disk full"):
        store.accept(make(signer, "boom"), dossier_code=None, partner="portal")
    assert (count(engine, messages), count(engine, outbox), count(engine, message_events)) == (
        0,
        0,
        0,
    )
    assert store.accept_many([batch[0], batch[2]]) == 2


def test_accept_many_is_one_batch_and_skips_known_ids(
    store: MessageStore, signer: EnvelopeSigner
) -> None:
    first = [Acceptance(make(signer, f"m-{n}"), DOSSIER, "portal") for n in range(300)]
    assert store.accept_many(first) == 300
    again = [*first[:10], Acceptance(make(signer, "m-new"), None, "portal")]
    assert store.accept_many(again) == 1
    assert count(store.engine, outbox) == 301


def test_outbox_hands_out_oldest_first_under_a_lease(
    store: MessageStore, signer: EnvelopeSigner
) -> None:
    for n in range(5):
        store.accept(make(signer, f"m-{n}"), dossier_code=None, partner="portal")
    first = store.pending_outbox(3, lease=timedelta(milliseconds=200))
    assert [e.message_id for e in first] == ["m-0", "m-1", "m-2"]
    assert [e.message_id for e in store.pending_outbox(10)] == ["m-3", "m-4"]  # others leased
    assert store.pending_outbox(10) == []
    time.sleep(0.25)  # the relay that took m-0..m-2 died: they come back
    assert [e.message_id for e in store.pending_outbox(10)] == ["m-0", "m-1", "m-2"]


def test_unpublished_messages_survive_a_restart(
    engine: Engine, signer: EnvelopeSigner, db_path: object
) -> None:
    MessageStore(engine).accept(make(signer, "m-1"), dossier_code=None, partner="portal")
    engine.dispose()  # the process dies between commit and publish
    from gateway.store import make_engine

    restarted = MessageStore(make_engine(f"sqlite:///{db_path}"))
    assert [e.message_id for e in restarted.pending_outbox(10)] == ["m-1"]


def test_mark_published_empties_the_outbox_once(
    store: MessageStore, signer: EnvelopeSigner
) -> None:
    store.accept(make(signer, "m-1"), dossier_code=None, partner="portal")
    store.mark_published(["m-1", "m-1"])
    store.mark_published(["m-1"])
    view = store.get("m-1")
    assert view is not None and view.status == "published"
    assert [e.event for e in view.timeline] == ["accepted", "published"]
    assert store.pending_outbox(10) == [] and count(store.engine, outbox) == 0


def test_stored_envelope_is_byte_exact_and_still_verifies(
    store: MessageStore, signer: EnvelopeSigner, keystore: KeyStore
) -> None:
    body = '{"ChuHoSo":"Trần Thị B", "x": [1, 2.50]}'.encode()
    envelope = make(signer, "m-1", body, replay_of="m-0")
    store.accept(envelope, dossier_code=None, partner="portal")
    stored = store.get_envelope("m-1")
    assert stored == envelope
    EnvelopeVerifier(keystore).verify(stored)
    view = store.get("m-1")
    assert view is not None and view.replay_of == "m-0"
    assert store.get("nope") is None and store.get_envelope("nope") is None


def test_timeline_records_attempts_failures_and_status(
    store: MessageStore, signer: EnvelopeSigner
) -> None:
    store.accept(make(signer, "m-1"), dossier_code=None, partner="portal")
    store.mark_published(["m-1"])
    store.record_event("m-1", EventKind.ATTEMPT_STARTED, attempt=1)
    store.record_event(
        "m-1",
        EventKind.ATTEMPT_FAILED,
        status=MessageStatus.RETRYING,
        detail="portal: timeout",
        attempt=1,
    )
    store.record_events(
        [
            EventRecord("m-1", "attempt_started", attempt=2),
            EventRecord(
                "m-1",
                "attempt_failed",
                status="parked",
                detail="portal: rejected (code 99)",
                attempt=2,
            ),
            EventRecord("m-1", "parked", status="parked", detail="permanent failure"),
        ]
    )
    view = store.get("m-1")
    assert view is not None
    assert [e.event for e in view.timeline] == [
        "accepted", "published", "attempt_started", "attempt_failed", "attempt_started",
        "attempt_failed", "parked",
    ]  # fmt: skip
    assert (view.status, view.attempts, view.last_error) == ("parked", 2, "permanent failure")
    store.record_event("m-1", "attempt_started", attempt=1)  # late, out of order: attempts stay 2
    view = store.get("m-1")
    assert view is not None and view.attempts == 2


def test_list_filters_and_pages(store: MessageStore, signer: EnvelopeSigner) -> None:
    for n in range(12):
        envelope = make(signer, f"m-{n:02d}")
        store.accept(envelope, dossier_code=f"000.00.00.H26-241120-{n % 3:04d}", partner="portal")
    store.record_event("m-03", "parked", status="parked", detail="contract: 100% wrong_field")
    store.record_event("m-07", "parked", status="parked", detail="portal: timeout")
    assert {v.message_id for v in store.list(status="parked")} == {"m-03", "m-07"}
    assert [v.message_id for v in store.list(error_contains="100%")] == ["m-03"]
    assert [v.message_id for v in store.list(error_contains="_f")] == ["m-03"]
    assert len(store.list(dossier_code="000.00.00.H26-241120-0001")) == 4
    assert store.list(type=MessageType.CITY_DOSSIER_SUBMITTED) == []
    assert len(store.list(type=MessageType.PORTAL_DOSSIER_SYNC, partner="portal", limit=100)) == 12
    newest_first = [v.message_id for v in store.list(limit=100)]
    assert newest_first == [f"m-{n:02d}" for n in reversed(range(12))]
    page1 = store.list(limit=5)
    page2 = store.list(limit=5, before=(page1[-1].created_at, page1[-1].message_id))
    assert [v.message_id for v in page1 + page2] == newest_first[:10]
    assert [v.message_id for v in store.list(limit=5, offset=5)] == newest_first[5:10]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert store.list(since=future) == [] and len(store.list(until=future, limit=100)) == 12
    with pytest.raises(ValueError, match="limit"):
        store.list(limit=0)
