"""The gateway's records for the data warehouse, in English snake_case.

Rules: identity numbers and names are personal data (``repr`` hides them); frozen
dataclasses; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gateway.domain.citizen_ids import mask_number


@dataclass(frozen=True)
class ResultKind:
    """``DanhMucKetQua``: a kind of result (``MaKetQua``), optionally one document number."""

    code: str
    number: str = ""


@dataclass(frozen=True)
class DocumentQuery:
    """``GetKetQuaGiayTo``: an owner's results of the given kinds, asked for a procedure."""

    owner_id_number: str = field(repr=False)
    requester_name: str = field(repr=False)
    requester_id_number: str = field(repr=False)
    channel: Literal["1", "2", "3"]  # 1 at the desk, 2 online (the citizen), 3 by post
    procedure_code: str
    kinds: tuple[ResultKind, ...]

    def __repr__(self) -> str:
        return (
            f"DocumentQuery(owner={mask_number(self.owner_id_number)!r}, "
            f"channel={self.channel!r}, procedure_code={self.procedure_code!r}, kinds={len(self.kinds)})"
        )


@dataclass(frozen=True)
class Attachment:
    """``TepDinhKem``: one file of a result, fetched with ``GetGiayToByUrl``."""

    name: str
    path: str


@dataclass(frozen=True)
class ResultDocument:
    """``GiayToKetQua``: one digitised result the warehouse holds."""

    kind_code: str
    title: str
    number: str
    issuing_agency: str
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class DocumentList:
    """A ``GetKetQuaGiayTo`` answer: the documents and the warehouse's signature value."""

    documents: tuple[ResultDocument, ...]
    signature: str = ""
