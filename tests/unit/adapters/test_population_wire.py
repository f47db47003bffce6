"""Population translation: requests valid against the XSD (hypothesis), answers parsed by
namespace whatever the prefixes, empty collection = not found, masked reprs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters.http import HttpConfig, PartnerHttp
from adapters.population import wire
from adapters.population.records import BirthDate, Citizen, CitizenQuery
from adapters.xml import SoapAnswer, SoapCaller, parse_answer, soap_body
from gateway.domain.errors import IdentifierError, InvalidInput, UpstreamMalformed
from gateway.testing.recorders import ListRecorder
from mocks.population import soap as deployed
from mocks.population.seed import generate_population

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS1 = wire.ANSWER_NS
REQUEST_XSD = etree.XMLSchema(etree.parse("contracts/population/dancu-request.xsd"))
CALLER = SoapCaller(
    PartnerHttp(HttpConfig("population", "https://population.test/ws"), ListRecorder()),
    Path("contracts/population/dancu.wsdl"),
)
PEOPLE = generate_population(size=40).citizens


def body_element(operation: str, params: dict[str, object]) -> etree._Element:
    raw, headers = CALLER.build(operation, params)
    assert headers["SOAPAction"] == '""'
    envelope = etree.fromstring(raw)
    return envelope.find(f"{{{SOAP}}}Body")[0]


cccd = st.builds(
    lambda province, digit, year, serial: f"{province}{digit}{year:02d}{serial:06d}",
    st.sampled_from(["001", "079", "031", "048"]), st.sampled_from("0123"), st.integers(0, 25), st.integers(0, 999_999),
)  # fmt: skip
token = st.from_regex(r"\A[A-Za-z0-9._-]{1,20}\Z")
name = st.text(
    st.characters(codec="utf-8", categories=("L", "Zs")), min_size=1, max_size=100
).filter(lambda s: s.strip())
birth = st.one_of(
    st.dates(date(1900, 1, 1), date(2025, 12, 31)).map(BirthDate.of),
    st.integers(1900, 2025).map(BirthDate),
)
query = st.builds(
    CitizenQuery,
    request_id=st.from_regex(r"\A[A-Za-z0-9-]{1,40}\Z"), service_code=token, officer_code=token, full_name=name, birth=birth,
    id_number=cccd, agency_code=st.sampled_from(["", "000.00.00.H26"]), phone=st.sampled_from(["", "0912345678", "+84912345678"]),
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(q=query, operation=st.sampled_from([wire.LOOKUP, wire.VERIFY]), old_card=st.booleans())
def test_every_translated_request_validates_against_the_xsd(
    q: CitizenQuery, operation: str, old_card: bool
) -> None:
    if old_card:
        q = CitizenQuery(
            q.request_id,
            q.service_code,
            q.officer_code,
            q.full_name,
            q.birth,
            old_id_number="012345678",
        )
    try:
        params = wire.request_params(q, operation)
    except IdentifierError:  # a generated CCCD with a birth year in the future
        return
    element = body_element(operation, params)
    assert REQUEST_XSD.validate(element), REQUEST_XSD.error_log.last_error
    assert element.findtext(f"{{{wire.REQUEST_NS}}}MaTichHop") == wire.INTEGRATION_CODES[operation]
    birth_node = element.find(f"{{{wire.REQUEST_NS}}}NgayThangNamSinh")[0]
    assert etree.QName(birth_node).localname == ("Nam" if q.birth.year_only else "NgayThangNam")


def test_local_service_codes_go_out_in_national_form() -> None:
    assert wire.service_code_on_wire("2.000815.000.00.00.H26.01") == "2.000815.01"
    assert wire.service_code_on_wire("2.000815.01") == "2.000815.01"
    with pytest.raises(InvalidInput, match="MaDVC"):
        wire.service_code_on_wire("x" * 25)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"request_id": "has space"}, "MaYeuCau"),
        ({"officer_code": ""}, "MaCanBo"),
        ({"id_number": "12345"}, "SoDinhDanh"),
        ({"id_number": "", "old_id_number": ""}, "SoDinhDanh"),
        ({"old_id_number": "012345678"}, "SoDinhDanh"),
        ({"id_number": "", "old_id_number": "001203001234"}, "SoCMND"),
        ({"full_name": "   "}, "HoVaTen"),
        ({"phone": "12ab"}, "SoDienThoai"),
    ],
)
def test_bad_queries_are_refused_naming_the_field(changes: dict[str, str], field: str) -> None:
    base = {"request_id": "r1", "service_code": "2.000815.01", "officer_code": "CB1", "full_name": "Nguyễn Văn An",
            "birth": BirthDate(1990, 1, 2), "id_number": "001090001234"}  # fmt: skip
    base.update(changes)
    with pytest.raises(InvalidInput) as refused:
        wire.request_params(CitizenQuery(**base), wire.LOOKUP)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert "001090001234" not in str(refused.value)


def test_birth_dates() -> None:
    assert (
        BirthDate.parse("19900102").wire == "19900102" and not BirthDate.parse("19900102").year_only
    )
    assert BirthDate.parse("1990").year_only and BirthDate.parse("1990").wire == "1990"
    for bad in ("19900230", "199001", "abcd", "0990"):
        with pytest.raises(InvalidInput, match="birth date"):
            BirthDate.parse(bad)


# -- answers: the deployed shape and the zeep-generated shape parse the same --------------


def parsed(raw: bytes) -> list[Citizen]:
    envelope = parse_answer(raw, partner="population", operation=wire.LOOKUP)
    return wire.parse_collection(
        soap_body(envelope, partner="population", operation=wire.LOOKUP)[0]
    )


def zeep_generated(raw_deployed: bytes) -> bytes:
    """Deserialise the deployed answer with zeep, render it back with zeep: zeep's prefixes."""
    envelope = parse_answer(raw_deployed, partner="population", operation=wire.LOOKUP)
    answer = SoapAnswer(raw_deployed, envelope, soap_body(envelope, partner="p", operation="o")[0])
    citizens = CALLER.deserialize(wire.LOOKUP, answer)
    element = CALLER.client.get_element(f"{{{NS1}}}CongdanCollection")
    new_envelope = etree.Element(f"{{{SOAP}}}Envelope")
    body = etree.SubElement(new_envelope, f"{{{SOAP}}}Body")
    element.render(body, element(CongDan=citizens or []))
    return etree.tostring(new_envelope, xml_declaration=True, encoding="UTF-8")


def default_namespace_variant(raw_deployed: bytes) -> bytes:
    """The same answer with the answer namespace as the default one, children reversed."""
    root = etree.fromstring(raw_deployed)
    collection = root.find(f"{{{SOAP}}}Body")[0]
    rebuilt = etree.Element(f"{{{NS1}}}CongdanCollection", nsmap={None: NS1})
    for citizen in collection:
        copy = etree.SubElement(rebuilt, f"{{{NS1}}}CongDan")
        for child in reversed(list(citizen)):
            copy.append(etree.fromstring(etree.tostring(child)))
    envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"S": SOAP})
    etree.SubElement(envelope, f"{{{SOAP}}}Body").append(rebuilt)
    return etree.tostring(envelope)


@pytest.mark.parametrize("index", range(0, 40, 7))
def test_deployed_and_zeep_generated_answers_parse_the_same(index: int) -> None:
    raw = deployed.render_collection([PEOPLE[index]])
    assert (
        b'<soapenv:Body xmlns:dan="http://dancuquocgia.bca">' in raw
        and b"<ns1:CongdanCollection xmlns:ns1=" in raw
    )
    from_deployed = parsed(raw)
    generated = zeep_generated(raw)
    assert generated != raw
    assert parsed(generated) == from_deployed
    assert parsed(default_namespace_variant(raw)) == from_deployed
    citizen = from_deployed[0]
    seeded = PEOPLE[index]
    assert citizen.id_number == seeded.id_number and citizen.given_name == seeded.given_name.upper()
    assert citizen.birth is not None and citizen.birth.year_only == seeded.birth_year_only


def test_empty_collection_means_not_found() -> None:
    assert parsed(deployed.render_collection([])) == []


def test_wrong_answer_element_and_missing_number_are_malformed() -> None:
    with pytest.raises(UpstreamMalformed, match="expected CongdanCollection"):
        wire.parse_collection(etree.fromstring(f'<x:KetQuaXacThuc xmlns:x="{NS1}"/>'.encode()))
    no_number = f'<CongdanCollection xmlns="{NS1}"><CongDan><GioiTinh>1</GioiTinh></CongDan></CongdanCollection>'
    with pytest.raises(UpstreamMalformed, match=r"CongDan\[0\] has no SoDinhDanh"):
        wire.parse_collection(etree.fromstring(no_number.encode()))
    wrong_ns = b'<CongdanCollection xmlns="http://other"><CongDan/></CongdanCollection>'
    with pytest.raises(UpstreamMalformed, match="expected CongdanCollection"):
        wire.parse_collection(etree.fromstring(wrong_ns))


def test_verification_answer() -> None:
    raw = deployed.render_verification("r1", True, ["HoVaTen", "NgayThangNamSinh"])
    envelope = parse_answer(raw, partner="population", operation=wire.VERIFY)
    result = wire.parse_verification(soap_body(envelope, partner="p", operation="o")[0])
    assert (result.exists, result.matches, result.mismatched_fields) == (
        True,
        False,
        ("HoVaTen", "NgayThangNamSinh"),
    )


def test_reprs_never_show_personal_data() -> None:
    raw = deployed.render_collection([PEOPLE[0]])
    citizen = parsed(raw)[0]
    text = (
        repr(citizen)
        + str(citizen)
        + repr(citizen.birth)
        + repr(citizen.permanent_address)
        + repr(citizen.father)
    )
    for secret in (
        citizen.id_number,
        citizen.family_name,
        citizen.given_name,
        citizen.household_book,
    ):
        assert secret not in text
    assert citizen.id_number[:3] + "******" + citizen.id_number[-3:] in text
    q = CitizenQuery(
        "r", "s", "o", "Nguyễn Văn An", BirthDate(1990, 1, 2), id_number="001090001234"
    )
    assert "Nguyễn" not in repr(q) and "001090001234" not in repr(q) and "1990" not in repr(q)
