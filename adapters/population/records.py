"""The gateway's records for the National Population Database, in English snake_case.

Rules:
- Everything here is personal data (Decree 13/2023/NĐ-CP): ``repr`` never shows a name,
  a number or an address in clear. Numbers appear masked (``001******234``), names and
  addresses not at all; ``str`` is the same as ``repr``.
- A birth date is either full (``yyyyMMdd``) or the year only, as the database holds it.
- Frozen dataclasses; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from gateway.domain.citizen_ids import mask_number
from gateway.domain.errors import InvalidInput

_YEAR = re.compile(r"[12][0-9]{3}")


@dataclass(frozen=True)
class BirthDate:
    """``NgayThangNamSinh``: a full date or only a year (``day`` None)."""

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        if (self.month is None) != (self.day is None):
            raise InvalidInput("birth date: give month and day together, or neither")
        if self.month is not None and self.day is not None:
            try:
                date(self.year, self.month, self.day)
            except ValueError as exc:
                raise InvalidInput(
                    "birth date: not a calendar date", field="NgayThangNamSinh"
                ) from exc
        if not 1000 <= self.year <= 2999:
            raise InvalidInput("birth date: year must have 4 digits", field="NgayThangNamSinh")

    @property
    def year_only(self) -> bool:
        return self.day is None

    @classmethod
    def parse(cls, text: str) -> BirthDate:
        """``yyyyMMdd`` or ``yyyy`` (the wire forms)."""
        text = text.strip()
        if len(text) == 4 and _YEAR.fullmatch(text):
            return cls(int(text))
        if len(text) == 8 and text.isascii() and text.isdigit():
            return cls(int(text[:4]), int(text[4:6]), int(text[6:]))
        raise InvalidInput(
            f"birth date must be yyyyMMdd or yyyy (got {len(text)} characters)",
            field="NgayThangNamSinh",
        )

    @classmethod
    def of(cls, value: date) -> BirthDate:
        return cls(value.year, value.month, value.day)

    @property
    def wire(self) -> str:
        """``yyyyMMdd`` or ``yyyy``."""
        if self.month is None or self.day is None:
            return f"{self.year:04d}"
        return f"{self.year:04d}{self.month:02d}{self.day:02d}"

    def __repr__(self) -> str:
        return "BirthDate(year only)" if self.year_only else "BirthDate(full date)"

    __str__ = __repr__


@dataclass(frozen=True)
class Address:
    """``NoiDangKyKhaiSinh``/``QueQuan``/``ThuongTru``/``NoiOHienTai``."""

    province_code: str = field(default="", repr=False)
    province_name: str = field(default="", repr=False)
    district_code: str = field(default="", repr=False)
    district_name: str = field(default="", repr=False)
    ward_code: str = field(default="", repr=False)
    ward_name: str = field(default="", repr=False)
    detail: str = field(default="", repr=False)
    country: str = field(default="", repr=False)


@dataclass(frozen=True)
class Relative:
    """``Cha``/``Me``/``VoChong``/``NguoiDaiDien``."""

    full_name: str = field(default="", repr=False)
    nationality: str = ""
    id_number: str = field(default="", repr=False)
    old_id_number: str = field(default="", repr=False)


@dataclass(frozen=True)
class HouseholdHead:
    """``ChuHo``: the head of the household and the citizen's relation to them."""

    relation: str = ""
    id_number: str = field(default="", repr=False)
    old_id_number: str = field(default="", repr=False)
    full_name: str = field(default="", repr=False)


@dataclass(frozen=True)
class Citizen:
    """One ``CongDan`` of a lookup answer."""

    id_number: str = field(repr=False)
    family_name: str = field(default="", repr=False)
    middle_name: str = field(default="", repr=False)
    given_name: str = field(default="", repr=False)
    old_id_number: str = field(default="", repr=False)
    gender: str = ""
    birth: BirthDate | None = field(default=None, repr=False)
    ethnicity: str = ""
    religion: str = ""
    nationality: str = ""
    marital_status: str = ""
    blood_group: str = ""
    birth_registration: Address | None = field(default=None, repr=False)
    hometown: Address | None = field(default=None, repr=False)
    permanent_address: Address | None = field(default=None, repr=False)
    current_address: Address | None = field(default=None, repr=False)
    father: Relative | None = field(default=None, repr=False)
    mother: Relative | None = field(default=None, repr=False)
    spouse: Relative | None = field(default=None, repr=False)
    representative: Relative | None = field(default=None, repr=False)
    household_head: HouseholdHead | None = field(default=None, repr=False)
    household_book: str = field(default="", repr=False)

    @property
    def full_name(self) -> str:
        return " ".join(
            part for part in (self.family_name, self.middle_name, self.given_name) if part
        )

    def __repr__(self) -> str:
        return f"Citizen(id_number={mask_number(self.id_number)!r}, gender={self.gender!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class CitizenQuery:
    """What the city asks about a citizen (lookup or verification).

    Exactly one of ``id_number`` (CCCD, 12 digits) and ``old_id_number`` (CMND, 9 digits,
    only for a citizen without a CCCD). ``request_id`` is unique per call (``MaYeuCau``).
    """

    request_id: str
    service_code: str  # MaDVC
    officer_code: str  # MaCanBo
    full_name: str = field(repr=False)
    birth: BirthDate = field(repr=False)
    id_number: str = field(default="", repr=False)
    old_id_number: str = field(default="", repr=False)
    agency_code: str = ""  # MaDonVi, optional
    account: str = field(default="", repr=False)  # TaiKhoan, optional
    phone: str = field(default="", repr=False)  # SoDienThoai, optional

    def __repr__(self) -> str:
        number = self.id_number or self.old_id_number
        return f"CitizenQuery(request_id={self.request_id!r}, number={mask_number(number)!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class Verification:
    """The ``KetQuaXacThuc`` answer: whether the citizen exists and the data match."""

    request_id: str
    exists: bool
    matches: bool
    mismatched_fields: tuple[str, ...] = ()
