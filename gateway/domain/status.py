"""Dossier status (TrangThaiHoSo) and the transitions the one-stop process allows.

Rules (reference, section 2): 1→2|3; 2→4; 4→5|6|8|9; 5→4|7|8; 6→4|9; 9→10;
3, 7, 8 and 10 are final. Re-sending the current status (an update of other fields)
is allowed. Anything else (backwards, a skipped step, leaving a final status) is a
contract violation the gateway refuses before it forwards anything. ``reachable`` says
whether one status lies ahead of another along legal steps: a message the dossier has
already moved past (a redelivered sync after its progress) is overtaken, not illegal.
"""

from __future__ import annotations

from enum import IntEnum

from gateway.domain.errors import IllegalTransition, InvalidInput


class DossierStatus(IntEnum):
    NEWLY_REGISTERED = 1
    ACCEPTED = 2
    REFUSED = 3
    IN_PROCESS = 4
    SUPPLEMENT_REQUESTED = 5
    PAYMENT_REQUESTED = 6
    WITHDRAWN = 7
    STOPPED = 8
    PROCESSED = 9
    RESULT_RETURNED = 10

    @property
    def vietnamese(self) -> str:
        return VIETNAMESE_NAMES[self]

    @property
    def is_final(self) -> bool:
        return not TRANSITIONS[self]

    @classmethod
    def parse(cls, raw: object, *, field: str = "TrangThaiHoSo") -> DossierStatus:
        """Accepts 1..10 as int or decimal string; anything else is refused naming ``field``."""
        if isinstance(raw, bool):
            raise InvalidInput(f"{field} {raw!r}: must be a status code 1..10", field=field)
        if isinstance(raw, str) and raw.isascii() and raw.isdigit():
            raw = int(raw)
        if isinstance(raw, int) and 1 <= raw <= 10:
            return cls(raw)
        raise InvalidInput(f"{field} {raw!r}: must be a status code 1..10", field=field)


VIETNAMESE_NAMES: dict[DossierStatus, str] = {
    DossierStatus.NEWLY_REGISTERED: "Mới đăng ký",
    DossierStatus.ACCEPTED: "Được tiếp nhận",
    DossierStatus.REFUSED: "Không được tiếp nhận",
    DossierStatus.IN_PROCESS: "Đang xử lý",
    DossierStatus.SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung giấy tờ",
    DossierStatus.PAYMENT_REQUESTED: "Yêu cầu thực hiện nghĩa vụ tài chính",
    DossierStatus.WITHDRAWN: "Công dân yêu cầu rút hồ sơ",
    DossierStatus.STOPPED: "Dừng xử lý",
    DossierStatus.PROCESSED: "Đã xử lý xong",
    DossierStatus.RESULT_RETURNED: "Đã trả kết quả",
}

_S = DossierStatus
TRANSITIONS: dict[DossierStatus, frozenset[DossierStatus]] = {
    _S.NEWLY_REGISTERED: frozenset({_S.ACCEPTED, _S.REFUSED}),
    _S.ACCEPTED: frozenset({_S.IN_PROCESS}),
    _S.REFUSED: frozenset(),
    _S.IN_PROCESS: frozenset(
        {_S.SUPPLEMENT_REQUESTED, _S.PAYMENT_REQUESTED, _S.STOPPED, _S.PROCESSED}
    ),
    _S.SUPPLEMENT_REQUESTED: frozenset({_S.IN_PROCESS, _S.WITHDRAWN, _S.STOPPED}),
    _S.PAYMENT_REQUESTED: frozenset({_S.IN_PROCESS, _S.PROCESSED}),
    _S.WITHDRAWN: frozenset(),
    _S.STOPPED: frozenset(),
    _S.PROCESSED: frozenset({_S.RESULT_RETURNED}),
    _S.RESULT_RETURNED: frozenset(),
}


def is_legal(current: DossierStatus, new: DossierStatus) -> bool:
    """True when ``current`` may become ``new`` (staying put counts as legal)."""
    return new == current or new in TRANSITIONS[current]


def reachable(origin: DossierStatus, target: DossierStatus) -> bool:
    """True when ``target`` lies ahead of ``origin`` along legal steps (or is ``origin``)."""
    seen, frontier = {origin}, [origin]
    while frontier:
        for step in TRANSITIONS[frontier.pop()]:
            if step not in seen:
                seen.add(step)
                frontier.append(step)
    return target in seen


def check_transition(current: DossierStatus, new: DossierStatus, *, dossier_code: str = "") -> None:
    """Raise :class:`IllegalTransition` naming both statuses when the step is not allowed."""
    if is_legal(current, new):
        return
    where = f"dossier {dossier_code}: " if dossier_code else ""
    allowed = ", ".join(str(int(s)) for s in sorted(TRANSITIONS[current])) or "none (final)"
    raise IllegalTransition(
        f"{where}TrangThaiHoSo {int(current)} ({current.vietnamese}) cannot become "
        f"{int(new)} ({new.vietnamese}); allowed next: {allowed}",
        field="TrangThaiHoSo",
    )
