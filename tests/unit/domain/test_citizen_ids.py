"""CCCD and CMND parsing: province, gender, century, birth year; every way of being wrong."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.citizen_ids import Cccd, Cmnd, Gender, mask_number, provinces
from gateway.domain.errors import IdentifierError

TODAY = date(2026, 11, 27)


def test_reference_example() -> None:
    cccd = Cccd.parse("001203001234", today=TODAY)
    assert cccd.province_code == "001" and cccd.province_name == "Thành phố Hà Nội"
    assert cccd.gender is Gender.MALE and cccd.birth_year == 2003
    assert "001203001234" not in repr(cccd) and str(cccd) == "001******234"


@pytest.mark.parametrize(
    ("digit", "gender", "century"),
    [(0, Gender.MALE, 1900), (1, Gender.FEMALE, 1900), (2, Gender.MALE, 2000), (3, Gender.FEMALE, 2000)],
)
def test_gender_and_century(digit: int, gender: Gender, century: int) -> None:
    cccd = Cccd.parse(f"079{digit}05123456", today=TODAY)
    assert cccd.gender is gender and cccd.birth_year == century + 5


def test_foreign_born_has_no_province_name() -> None:
    cccd = Cccd.parse("840198765432", today=TODAY)
    assert cccd.province_code == "840" and cccd.province_name is None


@pytest.mark.parametrize(
    ("raw", "part"),
    [
        ("00120300123", "exactly 12 digits"),
        ("0012030012345", "exactly 12 digits"),
        ("00120300123a", "some not digits"),
        ("003203001234", "province part '003' is not a province code"),
        ("001230001234", "birth year 2030, after 2026"),
        ("001403001234", "birth year 2103"),
        ("", "exactly 12 digits"),
        ("００１２０３００１２３４", "exactly 12 digits"),  # full-width digits
    ],
)
def test_cccd_refusals(raw: str, part: str) -> None:
    with pytest.raises(IdentifierError) as info:
        Cccd.parse(raw, today=TODAY)
    assert part in str(info.value)
    if len(raw) == 12 and raw.isascii():
        assert raw not in str(info.value), "the error must not carry the number in clear"


def test_provinces_table_has_the_63_codes() -> None:
    table = provinces()
    assert len(table) == 63 and table["079"] == "Thành phố Hồ Chí Minh"


@given(st.sampled_from(sorted(provinces())), st.integers(0, 3), st.integers(0, 99), st.integers(0, 999999))
def test_cccd_round_trip(province: str, g: int, yy: int, serial: int) -> None:
    raw = f"{province}{g}{yy:02d}{serial:06d}"
    birth_year = (g // 2 + 19) * 100 + yy
    if birth_year > TODAY.year:
        with pytest.raises(IdentifierError):
            Cccd.parse(raw, today=TODAY)
        return
    cccd = Cccd.parse(raw, today=TODAY)
    assert (cccd.value, cccd.birth_year, cccd.gender is Gender.FEMALE) == (raw, birth_year, g % 2 == 1)


def test_cmnd() -> None:
    assert Cmnd.parse("012345678").value == "012345678"
    assert Cmnd.parse("012345678901").masked == "012******901"
    for bad in ("12345678", "1234567890", "01234567x", ""):
        with pytest.raises(IdentifierError, match="must be 9 or 12 digits"):
            Cmnd.parse(bad)


def test_mask_number() -> None:
    assert mask_number("001203001234") == "001******234"
    assert mask_number("12345") == "*****"
