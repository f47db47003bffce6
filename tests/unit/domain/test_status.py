"""The dossier status transition table, tested exhaustively (all 100 ordered pairs)."""

from __future__ import annotations

import itertools

import pytest

from gateway.domain.errors import IllegalTransition, InvalidInput
from gateway.domain.status import DossierStatus, check_transition, is_legal, reachable

# Written out again from the reference (section 2), independently of the module's table.
LEGAL = {(1, 2), (1, 3), (2, 4), (4, 5), (4, 6), (4, 8), (4, 9), (5, 4), (5, 7), (5, 8), (6, 4), (6, 9), (9, 10)}
ALL_PAIRS = list(itertools.product(range(1, 11), repeat=2))


@pytest.mark.parametrize(("current", "new"), ALL_PAIRS)
def test_every_pair(current: int, new: int) -> None:
    old_status, new_status = DossierStatus(current), DossierStatus(new)
    expected = (current, new) in LEGAL or current == new
    assert is_legal(old_status, new_status) is expected
    if expected:
        check_transition(old_status, new_status)
    else:
        with pytest.raises(IllegalTransition) as info:
            check_transition(old_status, new_status, dossier_code="000.00.00.H26-241120-0001")
        message = str(info.value)
        assert f"TrangThaiHoSo {current} " in message and f"become {new} " in message
        assert "000.00.00.H26-241120-0001" in message


def test_final_statuses() -> None:
    assert {s for s in DossierStatus if s.is_final} == {DossierStatus(3), DossierStatus(7), DossierStatus(8), DossierStatus(10)}


def test_vietnamese_names() -> None:
    assert DossierStatus(1).vietnamese == "Mới đăng ký"
    assert DossierStatus(10).vietnamese == "Đã trả kết quả"
    assert all(s.vietnamese for s in DossierStatus)


@pytest.mark.parametrize("raw", [1, "4", 10])
def test_parse_accepts(raw: object) -> None:
    assert DossierStatus.parse(raw) in DossierStatus


@pytest.mark.parametrize("raw", [0, 11, "x", None, True, 4.0, "04x"])
def test_parse_refuses(raw: object) -> None:
    with pytest.raises(InvalidInput, match="TrangThaiHoSo"):
        DossierStatus.parse(raw)


def test_reachable_follows_legal_steps_only() -> None:
    S = DossierStatus
    assert reachable(S.ACCEPTED, S.IN_PROCESS) and reachable(S.ACCEPTED, S.RESULT_RETURNED)
    assert reachable(S.SUPPLEMENT_REQUESTED, S.PROCESSED)  # 5 -> 4 -> 9
    assert reachable(S.IN_PROCESS, S.IN_PROCESS)
    assert not reachable(S.IN_PROCESS, S.ACCEPTED)  # backwards
    assert not reachable(S.ACCEPTED, S.REFUSED)  # 3 only from 1
    assert not reachable(S.RESULT_RETURNED, S.PROCESSED)  # final


@pytest.mark.parametrize(("origin", "target"), list(itertools.product(range(1, 11), repeat=2)))
def test_one_legal_step_is_always_reachable(origin: int, target: int) -> None:
    if is_legal(DossierStatus(origin), DossierStatus(target)):
        assert reachable(DossierStatus(origin), DossierStatus(target))
