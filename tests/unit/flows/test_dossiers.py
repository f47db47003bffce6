"""Dossier flows: validation before queueing, transitions checked, portal pushes deduplicated."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.domain.errors import IdentifierError, IllegalTransition, InvalidInput
from gateway.flows.acceptor import Acceptor
from gateway.flows.dossiers import DossierFlows, DossierStates
from gateway.testing import LocalStack

CODE = "000.00.00.H26-261127-0001"


def record(status: int = 2, **extra: object) -> dict[str, object]:
    return {
        "MaHoSo": CODE,
        "MaTTHC": "1.001612",
        "TenTTHC": "Cấp giấy phép xây dựng",
        "TrangThaiHoSo": status,
        "DonViXuLy": "UBND phường Hàng Bạc",
        **extra,
    }


@pytest.fixture
def flows(stack: LocalStack, acceptor: Acceptor) -> DossierFlows:
    return DossierFlows(acceptor, DossierStates(stack.engine))


def test_sync_queues_a_signed_message_with_exact_body(
    flows: DossierFlows, stack: LocalStack
) -> None:
    accepted = flows.sync(record(), correlation_id="c-1")
    assert accepted.created
    envelope = stack.store.get_envelope(accepted.message_id)
    assert (
        envelope is not None
        and envelope.type == "portal.dossier.sync"
        and envelope.recipient == "portal"
    )
    assert json.loads(envelope.body) == record()
    stack.verifier.verify(envelope)
    assert [m.message_id for m in stack.store.pending_outbox(10)] == [accepted.message_id]
    assert envelope.headers == {"x-source": "city", "x-dossier-code": CODE}


def test_the_statuses_of_flow_3_pass_in_order(flows: DossierFlows, stack: LocalStack) -> None:
    for status in (2, 4, 9, 10):
        flows.sync(record(status), correlation_id=f"c-{status}")
    assert DossierStates(stack.engine).current(CODE) == 10


def test_illegal_transition_is_refused_and_nothing_queued(
    flows: DossierFlows, stack: LocalStack
) -> None:
    flows.sync(record(2), correlation_id="c-1")
    with pytest.raises(IllegalTransition, match=r"TrangThaiHoSo 2 .* cannot become 9"):
        flows.sync(record(9), correlation_id="c-2")
    assert len(stack.store.pending_outbox(10)) == 1


def test_backwards_is_refused(flows: DossierFlows) -> None:
    flows.sync(record(2), correlation_id="c-1")
    flows.sync(record(4), correlation_id="c-2")
    with pytest.raises(IllegalTransition):
        flows.sync(record(2), correlation_id="c-3")


def test_progress_checks_transition_and_path(flows: DossierFlows, stack: LocalStack) -> None:
    flows.sync(record(2), correlation_id="c-1")
    progress = {"NguoiXuLy": "Cán bộ A", "TrangThai": 4, "ThoiDiemXuLy": "20261127090000"}
    accepted = flows.progress(CODE, progress, correlation_id="c-2")
    envelope = stack.store.get_envelope(accepted.message_id)
    assert envelope is not None and json.loads(envelope.body)["MaHoSo"] == CODE
    with pytest.raises(InvalidInput, match="differs from the path"):
        flows.progress(
            CODE, {**progress, "MaHoSo": "000.00.00.H26-261127-0002"}, correlation_id="c-3"
        )
    with pytest.raises(IllegalTransition):
        flows.progress(CODE, {**progress, "TrangThai": 10}, correlation_id="c-4")


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
    flows: DossierFlows,
    stack: LocalStack,
    bad: dict[str, object],
    error: type[Exception],
    text: str,
) -> None:
    with pytest.raises(error, match=text):
        flows.sync({**record(), **bad}, correlation_id="c")
    assert stack.store.pending_outbox(10) == []


def test_portal_push_is_queued_once(flows: DossierFlows, stack: LocalStack) -> None:
    pushed = record(1, KenhThucHien=2)
    first = flows.submitted_on_portal(pushed, correlation_id="p-1")
    again = flows.submitted_on_portal(pushed, correlation_id="p-2")
    assert first.created and not again.created and first.message_id == again.message_id
    outbox = stack.store.pending_outbox(10)
    assert [e.type for e in outbox] == ["city.dossier.submitted"]
    assert json.loads(outbox[0].body)["dossier"]["MaHoSo"] == CODE
    changed = flows.submitted_on_portal({**pushed, "GhiChu": "pushed again"}, correlation_id="p-3")
    assert not changed.created and stack.store.outbox_size() == 1


def test_portal_push_must_be_newly_registered(flows: DossierFlows) -> None:
    with pytest.raises(InvalidInput, match="must be 1"):
        flows.submitted_on_portal(record(4), correlation_id="p")


def test_concurrent_syncs_share_commits_and_a_refusal_leaves_the_others(
    flows: DossierFlows, stack: LocalStack
) -> None:
    # 24 dossiers synced concurrently (group commit batches them), one illegal change
    # among them: it alone is refused, and only its message is missing.
    codes = [f"000.00.00.H26-261127-{n:04d}" for n in range(100, 124)]
    for code in codes:
        flows.sync(record(2, MaHoSo=code), correlation_id="c-first")

    def advance(index: int) -> str:
        status = 9 if index == 5 else 4  # 2 -> 9 is illegal, 2 -> 4 is legal
        try:
            flows.sync(record(status, MaHoSo=codes[index]), correlation_id=f"c-{index}")
        except IllegalTransition:
            return "refused"
        return "accepted"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(advance, range(len(codes))))
    assert outcomes.count("refused") == 1 and outcomes[5] == "refused"
    states = DossierStates(stack.engine)
    assert [states.current(code) for code in codes] == [2 if i == 5 else 4 for i in range(24)]
    assert len(stack.store.pending_outbox(100)) == 2 * len(codes) - 1
