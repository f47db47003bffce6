"""Personal identification numbers: the 12-digit CCCD and the old CMND.

CCCD layout ``PPP G YY SSSSSS`` (reference, section 1):
- ``PPP``: the province where the birth was registered, one of the 63 codes in
  ``gateway/data/provinces.json``; a first digit other than 0 is a foreign-country
  code (born abroad), accepted without a province name;
- ``G``: gender and century: even = male, odd = female; century = (G div 2 + 19) x 100;
- ``YY``: last two digits of the birth year; ``SSSSSS``: serial.

Refused: anything but exactly 12 ASCII digits, an unknown domestic province code,
and a birth year after the reference year (a person not yet born).

A CMND (old identity card) is 9 digits, or 12 on the newer card; it is accepted only
where a CCCD is absent (the caller decides that; this module only parses).

These numbers are personal data: ``repr`` and ``str`` of the values here mask them.
Use ``.value`` deliberately where the clear number is needed (a partner call).
No I/O beyond reading the packaged province table once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cache
from importlib import resources

from gateway.domain.errors import IdentifierError


@cache
def provinces() -> dict[str, str]:
    """Province code (3 digits, as in a CCCD) -> name, from the packaged table."""
    text = resources.files("gateway.data").joinpath("provinces.json").read_text("utf-8")
    table: dict[str, str] = json.loads(text)["provinces"]
    return table


def mask_number(number: str) -> str:
    """``001203001234`` -> ``001******234``: keeps the first and last 3 characters."""
    if len(number) <= 6:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 6) + number[-3:]


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"


def _ascii_digits(raw: str, lengths: tuple[int, ...]) -> bool:
    return len(raw) in lengths and raw.isascii() and raw.isdigit()


@dataclass(frozen=True)
class Cccd:
    """A parsed CCCD (số định danh cá nhân). ``repr`` masks the number."""

    value: str = field(repr=False)
    province_code: str
    province_name: str | None
    gender: Gender
    birth_year: int

    @classmethod
    def parse(cls, raw: str, *, today: date | None = None) -> Cccd:
        shown = mask_number(raw) if isinstance(raw, str) else "?"
        if not isinstance(raw, str) or not _ascii_digits(raw, (12,)):
            length = len(raw) if isinstance(raw, str) else 0
            raise IdentifierError(
                f"CCCD {shown!r}: must be exactly 12 digits (got {length} characters"
                f"{', some not digits' if isinstance(raw, str) and not raw.isdigit() else ''})",
                field="SoDinhDanh",
            )
        province_code, gender_digit, year_part = raw[:3], int(raw[3]), raw[4:6]
        province_name: str | None = None
        if province_code[0] == "0":
            province_name = provinces().get(province_code)
            if province_name is None:
                raise IdentifierError(
                    f"CCCD {shown!r}: province part {province_code!r} is not a province code",
                    field="SoDinhDanh",
                )
        century = (gender_digit // 2 + 19) * 100
        birth_year = century + int(year_part)
        reference_year = (today or date.today()).year
        if birth_year > reference_year:
            raise IdentifierError(
                f"CCCD {shown!r}: gender/century digit {gender_digit} and year {year_part} "
                f"give birth year {birth_year}, after {reference_year}",
                field="SoDinhDanh",
            )
        gender = Gender.MALE if gender_digit % 2 == 0 else Gender.FEMALE
        return cls(raw, province_code, province_name, gender, birth_year)

    @property
    def masked(self) -> str:
        return mask_number(self.value)

    def __str__(self) -> str:
        return self.masked


@dataclass(frozen=True)
class Cmnd:
    """An old identity-card number (9 digits, or 12 on the newer card). ``repr`` masks it."""

    value: str = field(repr=False)

    @classmethod
    def parse(cls, raw: str) -> Cmnd:
        if not isinstance(raw, str) or not _ascii_digits(raw, (9, 12)):
            shown = mask_number(raw) if isinstance(raw, str) else "?"
            raise IdentifierError(f"CMND {shown!r}: must be 9 or 12 digits", field="SoCMND")
        return cls(raw)

    @property
    def masked(self) -> str:
        return mask_number(self.value)

    def __str__(self) -> str:
        return self.masked
