"""Dossier flows: validation before queueing, transitions checked, portal pushes deduplicated."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from gateway.domain.errors import IdentifierError, IllegalTransition, InvalidInput, SignatureInvalid
from gateway.flows.dossiers import (
    AcceptPortalPush,
    Queued,
    QueueDossierSync,
    QueueProgress,
    accept_portal_push,
    queue_dossier_sync,
    queue_progress,
)
from gateway.flows.idempotency import KeyAlreadyUsed, KeyClaim, KeyedAnswer
from gateway.store.db import read_tx
from gateway.store.dossier_states import current_status
from gateway.store.idempotency import IdempotencyRecords
from gateway.store.repositories import UnitOfWork
from gateway.store.schema import outbox
from gateway.testing import LocalStack

CODE = "000.00.00.H26-261127-0001"
Units = Callable[[], UnitOfWork]


def record(status: int = 2, **extra: object) -> dict[str, object]:
    return {
        "MaHoSo": CODE,
        "MaTTHC": "1.001612",
        "TenTTHC": "Cấp giấy phép xây dựng",
        "TrangThaiHoSo": status,
        "DonViXuLy": "UBND phường Hàng Bạc",
        **extra,
    }


def sync(stack: LocalStack, uow: Units, body: dict[str, object], **command: object) -> Queued:
    cid = str(command.pop("correlation_id", "c"))
    queued = queue_dossier_sync(QueueDossierSync(body, cid, **command), uow(), stack.signer)  # type: ignore[arg-type]
    return queued.result(10)


def progress(stack: LocalStack, uow: Units, body: dict[str, object], code: str = CODE) -> Queued:
    return queue_progress(QueueProgress(code, body, "c"), uow(), stack.signer).result(10)


def outbox_rows(stack: LocalStack) -> int:
    with read_tx(stack.engine) as connection:
        return int(connection.execute(select(func.count()).select_from(outbox)).scalar_one())


def test_sync_queues_a_signed_message_with_exact_body(stack: LocalStack, uow: Units) -> None:
    queued = sync(stack, uow, record(), correlation_id="c-1")
    assert json.loads(queued.answer) == {"messageId": queued.message_id, "status": "accepted"}
    envelope = stack.store.get_envelope(queued.message_id)
    assert (
        envelope is not None
        and envelope.type == "portal.dossier.sync"
        and envelope.recipient == "portal"
        and envelope.correlation_id == "c-1"
    )
    assert json.loads(envelope.body) == record()
    stack.verifier.verify(envelope)
    assert [m.message_id for m in stack.store.pending_outbox(10)] == [queued.message_id]
    assert envelope.headers == {"x-source": "city", "x-dossier-code": CODE}


def test_the_statuses_of_flow_3_pass_in_order(stack: LocalStack, uow: Units) -> None:
    for status in (2, 4, 9, 10):
        sync(stack, uow, record(status))
    assert current_status(stack.engine, CODE) == 10


def test_illegal_transition_is_refused_and_nothing_queued(stack: LocalStack, uow: Units) -> None:
    sync(stack, uow, record(2))
    with pytest.raises(IllegalTransition, match=r"TrangThaiHoSo 2 .* cannot become 9"):
        sync(stack, uow, record(9))
    assert outbox_rows(stack) == 1


def test_backwards_is_refused(stack: LocalStack, uow: Units) -> None:
    sync(stack, uow, record(2))
    sync(stack, uow, record(4))
    with pytest.raises(IllegalTransition):
        sync(stack, uow, record(2))


def test_progress_checks_transition_and_path(stack: LocalStack, uow: Units) -> None:
    sync(stack, uow, record(2))
    entry = {"NguoiXuLy": "Cán bộ A", "TrangThai": 4, "ThoiDiemXuLy": "20261127090000"}
    queued = progress(stack, uow, entry)
    envelope = stack.store.get_envelope(queued.message_id)
    assert envelope is not None and json.loads(envelope.body)["MaHoSo"] == CODE
    assert envelope.type == "portal.dossier.progress"
    with pytest.raises(InvalidInput, match="differs from the path"):
        progress(stack, uow, {**entry, "MaHoSo": "000.00.00.H26-261127-0002"})
    with pytest.raises(IllegalTransition):
        progress(stack, uow, {**entry, "TrangThai": 10})


@pytest.mark.parametrize(
    ("bad", "error", "text"),
    [
        ({"MaHoSo": "000.00.00.H26-261327-0001"}, IdentifierError, "month 13"),
        ({"MaTTHC": "1.0016"}, IdentifierError, "number part"),
        ({"MaTTHC": "2.000477.000.00.00.h26"}, IdentifierError, "local suffix"),
        ({"TrangThaiHoSo": 11}, InvalidInput, "TrangThaiHoSo"),
        ({"MaHoSo": ""}, InvalidInput, "MaHoSo: required"),
    ],
)
def test_malformed_records_are_refused_before_queueing(
    stack: LocalStack, uow: Units, bad: dict[str, object], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        sync(stack, uow, {**record(), **bad})
    assert outbox_rows(stack) == 0


def test_the_key_is_recorded_with_the_message_and_a_second_use_records_nothing(
    stack: LocalStack, uow: Units
) -> None:
    claim = KeyClaim("city", "key-1", "fingerprint")
    keyed = KeyedAnswer(claim, 202, {"content-type": "application/json"})
    queued = sync(stack, uow, record(2), keyed=keyed)
    stored = IdempotencyRecords(stack.engine).lookup(claim)
    assert stored.state == "hit" and stored.response is not None
    assert (stored.response.status, stored.response.body) == (202, queued.answer)
    with pytest.raises(KeyAlreadyUsed) as used:
        sync(stack, uow, record(4), keyed=keyed)
    assert used.value.found == stored
    assert outbox_rows(stack) == 1 and current_status(stack.engine, CODE) == 2
    refused = KeyedAnswer(KeyClaim("city", "key-2", "f"), 202, {})
    with pytest.raises(IllegalTransition):
        sync(stack, uow, record(10), keyed=refused)  # 2 -> 10: refused, the key not recorded
    assert IdempotencyRecords(stack.engine).lookup(refused.claim).state == "miss"


def push(stack: LocalStack, uow: Units, body: dict[str, object], nonce: str) -> Queued:
    command = AcceptPortalPush(body, nonce, "p")
    return accept_portal_push(command, uow(), stack.signer).result(10)


def test_portal_push_is_queued_once(stack: LocalStack, uow: Units) -> None:
    pushed = record(1, KenhThucHien=2)
    first = push(stack, uow, pushed, "nonce-0001")
    again = push(stack, uow, pushed, "nonce-0002")
    assert first.message_id == again.message_id
    queued = stack.store.pending_outbox(10)
    assert [e.type for e in queued] == ["city.dossier.submitted"]
    assert json.loads(queued[0].body)["dossier"]["MaHoSo"] == CODE
    changed = push(stack, uow, {**pushed, "GhiChu": "pushed again"}, "nonce-0003")
    assert changed.message_id == first.message_id and outbox_rows(stack) == 1
    envelope = stack.store.get_envelope(first.message_id)
    assert envelope is not None and "GhiChu" not in json.loads(envelope.body)["dossier"]


def test_portal_push_spends_its_nonce_only_when_accepted(stack: LocalStack, uow: Units) -> None:
    with pytest.raises(InvalidInput, match="must be 1"):
        push(stack, uow, record(4), "nonce-0001")
    push(stack, uow, record(1), "nonce-0001")  # the refused push spent nothing
    with pytest.raises(SignatureInvalid, match="already used"):
        push(stack, uow, record(1), "nonce-0001")


def test_concurrent_syncs_share_commits_and_a_refusal_leaves_the_others(
    stack: LocalStack, uow: Units
) -> None:
    # 24 dossiers synced concurrently (group commit batches them), one illegal change
    # among them: it alone is refused, and only its message is missing.
    codes = [f"000.00.00.H26-261127-{n:04d}" for n in range(100, 124)]
    for code in codes:
        sync(stack, uow, record(2, MaHoSo=code))

    def advance(index: int) -> str:
        status = 9 if index == 5 else 4  # 2 -> 9 is illegal, 2 -> 4 is legal
        try:
            sync(stack, uow, record(status, MaHoSo=codes[index]))
        except IllegalTransition:
            return "refused"
        return "accepted"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(advance, range(len(codes))))
    assert outcomes.count("refused") == 1 and outcomes[5] == "refused"
    states = [current_status(stack.engine, code) for code in codes]
    assert states == [2 if i == 5 else 4 for i in range(24)]
    assert outbox_rows(stack) == 2 * len(codes) - 1
