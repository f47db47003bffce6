"""SOAP messages of the population database: parse requests, render answers and faults.

Pure (bytes and records in, bytes out). Rules:
- Requests are read by namespace, never by prefix, after the caller has parsed them with
  the hardened parser and validated the Body element against ``dancu-request.xsd``.
- Answers come in the real-world shape: ``xmlns:dan`` declared on the SOAP Header and Body,
  ``xmlns:ns1`` declared on ``CongdanCollection`` (or ``KetQuaXacThuc``), children in the
  order deployed systems send them (not the XSD's listing order; the XSD uses xs:all),
  empty elements for missing numbers, names upper-cased.
- Faults are SOAP 1.1 Faults whose detail is ``ns1:ChiTietLoi{MaLoi, MoTaLoi, MaYeuCau}``;
  faultcode ``soapenv:Client.Authentication`` (MaLoi 100), ``soapenv:Client.Validation``
  (500), ``soapenv:Client.Malformed`` (501) or ``soapenv:Server`` (999).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from lxml import etree

from mocks.population.people import Address, Citizen, HouseholdHead, Relative

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
REQUEST_NS = "http://dancuquocgia.bca"
ANSWER_NS = "http://www.mic.gov.vn/dancu/1.0"
LOOKUP = "TraCuuThongTinCongDan"
VERIFY = "XacThucThongTinCongDan"
OPERATIONS = (LOOKUP, VERIFY)


@dataclass(frozen=True)
class CitizenQuery:
    """One lookup or verification request, fields named in English."""

    operation: str
    request_id: str
    service_code: str
    integration_code: str
    officer_code: str
    agency_code: str
    id_number: str  # SoDinhDanh, "" when the request gives SoCMND
    old_id_number: str  # SoCMND, "" when the request gives SoDinhDanh
    full_name: str
    birth_date: str  # yyyyMMdd, "" when the request gives only the year
    birth_year: str  # yyyy (taken from the date when a full date is given)


def _text(parent: etree._Element, name: str) -> str:
    node = parent.find(f"{{{REQUEST_NS}}}{name}")
    return (node.text or "").strip() if node is not None else ""


def parse_query(element: etree._Element) -> CitizenQuery:
    """The request's fields (the element is the Body child, already schema-valid)."""
    operation = etree.QName(element).localname
    birth = element.find(f"{{{REQUEST_NS}}}NgayThangNamSinh")
    birth_date = _text(birth, "NgayThangNam") if birth is not None else ""
    birth_year = (
        birth_date[:4] if birth_date else (_text(birth, "Nam") if birth is not None else "")
    )
    return CitizenQuery(
        operation=operation,
        request_id=_text(element, "MaYeuCau"),
        service_code=_text(element, "MaDVC"),
        integration_code=_text(element, "MaTichHop"),
        officer_code=_text(element, "MaCanBo"),
        agency_code=_text(element, "MaDonVi"),
        id_number=_text(element, "SoDinhDanh"),
        old_id_number=_text(element, "SoCMND"),
        full_name=_text(element, "HoVaTen"),
        birth_date=birth_date,
        birth_year=birth_year,
    )


def _el(name: str, value: str) -> str:
    return f"<ns1:{name}>{escape(value)}</ns1:{name}>" if value else f"<ns1:{name}/>"


def _address(name: str, address: Address) -> str:
    fields = (
        ("MaTinhThanh", address.province_code),
        ("TenTinhThanh", address.province_name),
        ("MaQuanHuyen", address.district_code),
        ("TenQuanHuyen", address.district_name),
        ("MaPhuongXa", address.ward_code),
        ("TenPhuongXa", address.ward_name),
        ("ChiTiet", address.detail.upper()),
        ("QuocGia", address.country),
    )
    inner = "".join(_el(key, value) for key, value in fields if value)
    return f"<ns1:{name}>{inner}</ns1:{name}>"


def _relative(name: str, relative: Relative | None) -> str:
    if relative is None:
        return ""
    return (
        f"<ns1:{name}>{_el('HoVaTen', relative.full_name.upper())}"
        f"{_el('QuocTich', relative.nationality)}{_el('SoDinhDanh', relative.id_number)}"
        f"{_el('SoCMND', relative.old_id_number)}</ns1:{name}>"
    )


def _head(head: HouseholdHead) -> str:
    return (
        f"<ns1:ChuHo>{_el('QuanHe', head.relation)}{_el('SoDinhDanh', head.id_number)}"
        f"{_el('SoCMND', head.old_id_number)}{_el('HoVaTen', head.full_name.upper())}</ns1:ChuHo>"
    )


def render_citizen(citizen: Citizen) -> str:
    """One ``ns1:CongDan`` element, in the order deployed systems send the fields."""
    if citizen.birth_year_only:
        birth = _el("Nam", citizen.birth_year)
    else:
        birth = _el("NgayThangNam", citizen.birth_date_text)
    return (
        "<ns1:CongDan>"
        f"{_el('SoDinhDanh', citizen.id_number)}{_el('SoCMND', citizen.old_id_number)}"
        f"<ns1:HoVaTen>{_el('Ho', citizen.family_name.upper())}"
        f"{_el('ChuDem', citizen.middle_name.upper())}{_el('Ten', citizen.given_name.upper())}"
        "</ns1:HoVaTen>"
        f"{_el('GioiTinh', citizen.gender)}{_el('DanToc', citizen.ethnicity)}"
        f"{_el('TonGiao', citizen.religion)}{_el('TinhTrangHonNhan', citizen.marital_status)}"
        f"{_el('NhomMau', citizen.blood_group)}"
        f"<ns1:NgayThangNamSinh>{birth}</ns1:NgayThangNamSinh>"
        f"{_address('NoiDangKyKhaiSinh', citizen.birth_registration)}"
        f"{_el('QuocTich', citizen.nationality)}"
        f"{_address('QueQuan', citizen.hometown)}"
        f"{_address('ThuongTru', citizen.permanent_address)}"
        f"{_address('NoiOHienTai', citizen.current_address)}"
        f"{_relative('Cha', citizen.father)}{_relative('Me', citizen.mother)}"
        f"{_relative('VoChong', citizen.spouse)}{_relative('NguoiDaiDien', citizen.representative)}"
        f"{_head(citizen.household_head)}{_el('SoSoHoKhau', citizen.household_book)}"
        "</ns1:CongDan>"
    )


def _envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}">'
        f'<soapenv:Header xmlns:dan="{REQUEST_NS}"/>'
        f'<soapenv:Body xmlns:dan="{REQUEST_NS}">{body}</soapenv:Body>'
        "</soapenv:Envelope>"
    ).encode()


def render_collection(citizens: list[Citizen]) -> bytes:
    """The TraCuu answer: ``CongdanCollection`` with zero or more citizens."""
    inner = "".join(render_citizen(citizen) for citizen in citizens)
    return _envelope(
        f'<ns1:CongdanCollection xmlns:ns1="{ANSWER_NS}">{inner}</ns1:CongdanCollection>'
    )


def render_verification(request_id: str, exists: bool, mismatched: list[str]) -> bytes:
    """The XacThuc answer: exists, all given data correct, which fields do not match."""
    flags = f"{_el('TonTai', str(exists).lower())}{_el('ThongTinChinhXac', str(not mismatched).lower())}"
    fields = "".join(_el("TruongKhongKhop", name) for name in mismatched)
    return _envelope(
        f'<ns1:KetQuaXacThuc xmlns:ns1="{ANSWER_NS}">{_el("MaYeuCau", request_id)}'
        f"{flags}{fields}</ns1:KetQuaXacThuc>"
    )


FAULT_CODES = {
    "100": "soapenv:Client.Authentication",
    "500": "soapenv:Client.Validation",
    "501": "soapenv:Client.Malformed",
    "999": "soapenv:Server",
}


def render_fault(error_code: str, message: str, request_id: str = "") -> bytes:
    """A SOAP 1.1 Fault with the service's ``ChiTietLoi`` detail."""
    message = message[:500]
    request = _el("MaYeuCau", request_id[:40]) if request_id else ""
    detail = (
        f'<ns1:ChiTietLoi xmlns:ns1="{ANSWER_NS}">{_el("MaLoi", error_code)}'
        f"{_el('MoTaLoi', message)}{request}</ns1:ChiTietLoi>"
    )
    return _envelope(
        f"<soapenv:Fault><faultcode>{FAULT_CODES[error_code]}</faultcode>"
        f"<faultstring>{escape(message)}</faultstring><detail>{detail}</detail></soapenv:Fault>"
    )
