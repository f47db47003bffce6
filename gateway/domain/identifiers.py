"""Identifiers of the one-stop process, parsed at the gateway's edge.

Parse, don't validate: each ``parse`` returns an immutable value whose parts are
already checked, or raises :class:`~gateway.domain.errors.IdentifierError` whose
message quotes the input and names the part that is wrong, e.g.
``dossier code '000.00.00.H26-241320-0001': month 13 in date part``.

Rules (from the reference, section 1):
- agency code ``NNN.NN.NN.XNN`` (``000.00.00.H26``; ministries ``Gxx``);
- dossier code ``{agency}-{yyMMdd}-{NNNN}``, a 4- or 5-digit daily sequence;
- procedure code ``N.NNNNNN`` (national) or national + ``.`` + agency code (local);
- public-service code (MaDVC) = procedure code + ``.NN``;
- CCCD: 12 digits ``PPP G YY SSSSSS`` (see :mod:`gateway.domain.citizen_ids`).

This module does no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from gateway.domain.errors import IdentifierError

_DIGITS = re.compile(r"[0-9]+")


def _digits(value: str, count: int | tuple[int, ...]) -> bool:
    counts = (count,) if isinstance(count, int) else count
    return len(value) in counts and _DIGITS.fullmatch(value) is not None


def _refuse(kind: str, raw: str, why: str, field: str | None = None) -> IdentifierError:
    return IdentifierError(f"{kind} {raw!r}: {why}", field=field)


@dataclass(frozen=True, order=True)
class AgencyCode:
    """Mã định danh cơ quan: ``NNN.NN.NN.XNN``."""

    value: str

    @classmethod
    def parse(cls, raw: str) -> AgencyCode:
        kind = "agency code"
        if not isinstance(raw, str):
            raise _refuse(kind, str(raw), "not a string")
        groups = raw.split(".")
        if len(groups) != 4:
            raise _refuse(
                kind, raw, f"expected 4 dot-separated groups NNN.NN.NN.XNN, got {len(groups)}"
            )
        for position, (group, width) in enumerate(zip(groups[:3], (3, 2, 2), strict=True), 1):
            if not _digits(group, width):
                raise _refuse(kind, raw, f"group {position} {group!r} must be {width} digits")
        last = groups[3]
        if len(last) != 3 or not ("A" <= last[0] <= "Z") or not _digits(last[1:], 2):
            raise _refuse(
                kind, raw, f"group 4 {last!r} must be a capital letter and 2 digits (e.g. H26)"
            )
        return cls(raw)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, order=True)
class DossierCode:
    """Mã hồ sơ: ``{agency code}-{yyMMdd}-{NNNN}`` (4 or 5 digit daily sequence)."""

    value: str
    agency: AgencyCode
    received_on: date
    sequence: int

    @classmethod
    def parse(cls, raw: str) -> DossierCode:
        kind = "dossier code"
        if not isinstance(raw, str):
            raise _refuse(kind, str(raw), "not a string")
        parts = raw.split("-")
        if len(parts) != 3:
            raise _refuse(kind, raw, "expected {agency code}-{yyMMdd}-{NNNN}")
        agency_part, date_part, sequence_part = parts
        try:
            agency = AgencyCode.parse(agency_part)
        except IdentifierError as exc:
            raise _refuse(kind, raw, f"agency part: {exc.detail}") from None
        if not _digits(date_part, 6):
            raise _refuse(kind, raw, f"date part {date_part!r} must be 6 digits yyMMdd")
        year, month, day = 2000 + int(date_part[:2]), int(date_part[2:4]), int(date_part[4:])
        if not 1 <= month <= 12:
            raise _refuse(kind, raw, f"month {month} in date part")
        try:
            received_on = date(year, month, day)
        except ValueError:
            raise _refuse(
                kind, raw, f"day {day} in date part does not exist in {year}-{month:02d}"
            ) from None
        if not _digits(sequence_part, (4, 5)):
            raise _refuse(kind, raw, f"sequence part {sequence_part!r} must be 4 or 5 digits")
        return cls(raw, agency, received_on, int(sequence_part))

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, order=True)
class ProcedureCode:
    """Mã TTHC: national ``N.NNNNNN`` or local ``N.NNNNNN.{agency code}``."""

    value: str
    national: str
    agency: AgencyCode | None

    @classmethod
    def parse(cls, raw: str) -> ProcedureCode:
        kind = "procedure code"
        if not isinstance(raw, str):
            raise _refuse(kind, str(raw), "not a string")
        head, _, rest = raw.partition(".")
        if not _digits(head, 1):
            raise _refuse(kind, raw, f"field part {head!r} must be one digit")
        number, _, suffix = rest.partition(".")
        if not _digits(number, 6):
            raise _refuse(kind, raw, f"number part {number!r} must be 6 digits")
        national = f"{head}.{number}"
        if not suffix:
            return cls(raw, national, None)
        try:
            agency = AgencyCode.parse(suffix)
        except IdentifierError as exc:
            raise _refuse(kind, raw, f"local suffix: {exc.detail}") from None
        return cls(raw, national, agency)

    @property
    def is_local(self) -> bool:
        return self.agency is not None

    def to_national(self) -> ProcedureCode:
        """The national form: the local agency suffix stripped."""
        return ProcedureCode(self.national, self.national, None)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, order=True)
class PublicServiceCode:
    """MaDVC: a procedure code followed by ``.NN`` (payment builds it as MaTTHC + ``.01``)."""

    value: str
    procedure: ProcedureCode
    suffix: str

    @classmethod
    def parse(cls, raw: str) -> PublicServiceCode:
        kind = "public-service code"
        if not isinstance(raw, str):
            raise _refuse(kind, str(raw), "not a string")
        procedure_part, dot, suffix = raw.rpartition(".")
        if not dot or not _digits(suffix, 2):
            raise _refuse(
                kind, raw, f"service suffix {suffix!r} must be 2 digits after the procedure code"
            )
        try:
            procedure = ProcedureCode.parse(procedure_part)
        except IdentifierError as exc:
            raise _refuse(kind, raw, f"procedure part: {exc.detail}") from None
        return cls(raw, procedure, suffix)

    @classmethod
    def for_procedure(cls, procedure: ProcedureCode, suffix: str = "01") -> PublicServiceCode:
        return cls.parse(f"{procedure.value}.{suffix}")

    def __str__(self) -> str:
        return self.value
