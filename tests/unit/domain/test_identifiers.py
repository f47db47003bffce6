"""Agency, dossier, procedure and public-service codes: examples, every way of being wrong, round trips."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.errors import IdentifierError
from gateway.domain.identifiers import AgencyCode, DossierCode, ProcedureCode, PublicServiceCode

digits = lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)  # noqa: E731
agency_codes = st.builds(
    lambda a, b, c, letter, d: f"{a}.{b}.{c}.{letter}{d}",
    digits(3), digits(2), digits(2), st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), digits(2),
)


@pytest.mark.parametrize("raw", ["000.00.00.H26", "000.00.01.H22", "000.00.00.G22", "123.45.67.A00"])
def test_agency_code_examples(raw: str) -> None:
    assert AgencyCode.parse(raw).value == raw


@pytest.mark.parametrize(
    ("raw", "part"),
    [
        ("000.00.H26", "expected 4 dot-separated groups"),
        ("00.00.00.H26", "group 1 '00' must be 3 digits"),
        ("000.0a.00.H26", "group 2 '0a' must be 2 digits"),
        ("000.00.000.H26", "group 3 '000' must be 2 digits"),
        ("000.00.00.h26", "group 4 'h26'"),
        ("000.00.00.H2", "group 4 'H2'"),
        ("000.00.00.HH6", "group 4 'HH6'"),
        ("", "expected 4 dot-separated groups"),
        ("000.00.00.H26.", "expected 4 dot-separated groups"),
        ("٠٠٠.00.00.H26", "group 1"),  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_agency_code_refusals_name_the_part(raw: str, part: str) -> None:
    with pytest.raises(IdentifierError) as info:
        AgencyCode.parse(raw)
    assert part in str(info.value)
    assert repr(raw) in str(info.value)


@given(agency_codes)
def test_agency_code_round_trip(raw: str) -> None:
    assert str(AgencyCode.parse(raw)) == raw


def test_dossier_code_exposes_agency_date_and_sequence() -> None:
    code = DossierCode.parse("000.00.00.H26-241120-0001")
    assert code.agency == AgencyCode("000.00.00.H26")
    assert code.received_on == date(2024, 11, 20)
    assert code.sequence == 1
    assert DossierCode.parse("000.00.00.H26-241120-12345").sequence == 12345


@pytest.mark.parametrize(
    ("raw", "part"),
    [
        ("000.00.00.H26-241320-0001", "month 13 in date part"),
        ("000.00.00.H26-241100-0001", "day 0 in date part"),
        ("000.00.00.H26-240020-0001", "month 0 in date part"),
        ("000.00.00.H26-240230-0001", "day 30 in date part does not exist in 2024-02"),
        ("000.00.00.H26-2411-0001", "date part '2411' must be 6 digits"),
        ("000.00.00.H26-241120-001", "sequence part '001' must be 4 or 5 digits"),
        ("000.00.00.H26-241120-123456", "sequence part '123456'"),
        ("000.00.00.H26-241120-00a1", "sequence part"),
        ("000.00.00.X2-241120-0001", "agency part"),
        ("000.00.00.H26-241120", "expected {agency code}-{yyMMdd}-{NNNN}"),
        ("000.00.00.H26_241120_0001", "expected {agency code}-{yyMMdd}-{NNNN}"),
    ],
)
def test_dossier_code_refusals_name_the_part(raw: str, part: str) -> None:
    with pytest.raises(IdentifierError) as info:
        DossierCode.parse(raw)
    assert part in str(info.value)


def test_dossier_code_error_message_matches_the_issue_example() -> None:
    with pytest.raises(IdentifierError) as info:
        DossierCode.parse("000.00.00.H26-241320-0001")
    assert str(info.value) == "dossier code '000.00.00.H26-241320-0001': month 13 in date part"


@given(agency_codes, st.dates(date(2000, 1, 1), date(2099, 12, 31)), st.integers(0, 99999))
def test_dossier_code_round_trip(agency: str, day: date, sequence: int) -> None:
    width = 4 if sequence < 10000 else 5
    raw = f"{agency}-{day:%y%m%d}-{sequence:0{width}d}"
    code = DossierCode.parse(raw)
    assert (str(code), code.agency.value, code.received_on, code.sequence) == (raw, agency, day, sequence)


@given(st.text(max_size=40))
def test_dossier_code_never_raises_anything_but_identifier_error(raw: str) -> None:
    try:
        DossierCode.parse(raw)
    except IdentifierError:
        pass


def test_procedure_code_national_and_local() -> None:
    national = ProcedureCode.parse("1.001234")
    assert not national.is_local and national.to_national() == national
    local = ProcedureCode.parse("2.000477.000.00.00.H26")
    assert local.is_local and local.agency == AgencyCode("000.00.00.H26")
    assert local.to_national().value == "2.000477"


@pytest.mark.parametrize(
    ("raw", "part"),
    [
        ("12.001234", "field part '12' must be one digit"),
        ("1.00123", "number part '00123' must be 6 digits"),
        ("1.0012345", "number part"),
        ("1.001234.000.00.H26", "local suffix"),
        ("x.001234", "field part"),
        ("1001234", "field part '1001234' must be one digit"),
    ],
)
def test_procedure_code_refusals(raw: str, part: str) -> None:
    with pytest.raises(IdentifierError) as info:
        ProcedureCode.parse(raw)
    assert part in str(info.value)


def test_public_service_code() -> None:
    code = PublicServiceCode.parse("2.000815.000.00.00.H26.01")
    assert code.procedure.value == "2.000815.000.00.00.H26" and code.suffix == "01"
    built = PublicServiceCode.for_procedure(ProcedureCode.parse("1.001234"))
    assert built.value == "1.001234.01"
    for bad, part in [("2.000815", "service suffix '000815'"), ("2.000815.1", "service suffix '1'"),
                      ("2.00081.01", "procedure part")]:
        with pytest.raises(IdentifierError) as info:
            PublicServiceCode.parse(bad)
        assert part in str(info.value)


@given(st.sampled_from("0123456789"), digits(6), st.one_of(st.none(), agency_codes), digits(2))
def test_public_service_round_trip(head: str, number: str, agency: str | None, suffix: str) -> None:
    procedure = f"{head}.{number}" + (f".{agency}" if agency else "")
    code = PublicServiceCode.parse(f"{procedure}.{suffix}")
    assert code.procedure.value == procedure and code.suffix == suffix
    assert code.procedure.to_national().value == f"{head}.{number}"
