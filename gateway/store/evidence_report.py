"""What ``log verify`` reports: problems (the log does not verify) and tails (it does, but
the last records are not yet covered by a checkpoint, an anchor or a time-stamp).

Rules:
- A :class:`Problem` fails verification; its ``reason`` is one of the codes listed in
  :mod:`gateway.store.evidence_verify`.
- A :class:`Tail` never fails verification: it names, per chain, the records after
  the last checkpoint (protected by the chain only, so a cut there is invisible until
  the next checkpoint: the count is what shows it) or after the last time-stamped one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Problem:
    """One thing that does not verify. ``seq`` names the record, ``checkpoint_id`` the
    checkpoint (either or both)."""

    reason: str
    chain_id: str | None
    seq: int | None
    checkpoint_id: int | None
    detail: str

    def __str__(self) -> str:
        where = []
        if self.chain_id is not None:
            where.append(f"record {self.chain_id}#{self.seq}")
        if self.checkpoint_id is not None:
            where.append(f"checkpoint {self.checkpoint_id}")
        if not where:
            where.append("log")
        return f"{' / '.join(where)}: {self.reason}: {self.detail}"


@dataclass(frozen=True)
class Tail:
    """Records ``first_seq``..``last_seq`` of a chain, after the last covering checkpoint."""

    chain_id: str
    first_seq: int
    last_seq: int

    @property
    def count(self) -> int:
        return self.last_seq - self.first_seq + 1

    def __str__(self) -> str:
        plural = "record" if self.count == 1 else "records"
        return f"chain {self.chain_id}: {self.count} {plural} (#{self.first_seq}..#{self.last_seq})"


@dataclass(frozen=True)
class VerifyReport:
    chains: int
    records: int
    checkpoints: int
    problems: tuple[Problem, ...]
    uncovered: tuple[Tail, ...] = ()  # records after the last checkpoint, per chain
    anchors: int = 0  # anchor lines checked
    unanchored: tuple[int, ...] = ()  # checkpoints after the last anchored one
    anchors_checked: bool = False
    stamps: int = 0  # time-stamp tokens that verify
    last_stamp: datetime | None = None  # the newest token's genTime
    unstamped: tuple[Tail, ...] = ()  # records after the last time-stamped checkpoint
    stamps_checked: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None
