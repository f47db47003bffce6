"""Pure translation between population records and the database's SOAP payloads.

Rules:
- Requests: :func:`request_params` checks a :class:`CitizenQuery` against
  ``contracts/population/dancu-request.xsd`` rules (lengths, patterns, the CCCD/CMND
  choice) and returns the parameters zeep serialises, in the XSD's sequence order.
  A bad field raises ``InvalidInput`` naming the wire field, before anything is sent.
- ``MaDVC`` is at most 20 characters in the contract; a local public-service code
  (``2.000815.000.00.00.H26.01``, 25) is sent in its national form (``2.000815.01``).
- Answers are read BY NAMESPACE (``{http://www.mic.gov.vn/dancu/1.0}CongDan``), never by
  prefix, in any child order; an empty ``CongdanCollection`` means "not found" (an empty
  list), not an error. An answer breaking the contract raises ``UpstreamMalformed``
  naming the element, never its (personal) content.
- No I/O.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from adapters.population.records import (
    Address,
    BirthDate,
    Citizen,
    CitizenQuery,
    HouseholdHead,
    Relative,
    Verification,
)
from gateway.domain.citizen_ids import Cccd, Cmnd
from gateway.domain.errors import IdentifierError, InvalidInput, UpstreamMalformed
from gateway.domain.identifiers import PublicServiceCode

PARTNER = "population"
REQUEST_NS = "http://dancuquocgia.bca"
ANSWER_NS = "http://www.mic.gov.vn/dancu/1.0"
LOOKUP = "TraCuuThongTinCongDan"
VERIFY = "XacThucThongTinCongDan"
INTEGRATION_CODES = {LOOKUP: "037", VERIFY: "003"}

_NO_SPACE = re.compile(r"\S+")
_PHONE = re.compile(r"\+?[0-9]{8,15}")


def _token(value: str, name: str, maximum: int) -> str:
    if not value or len(value) > maximum or not _NO_SPACE.fullmatch(value):
        raise InvalidInput(
            f"{name} must be 1 to {maximum} characters without spaces (got {len(value)})",
            field=name,
        )
    return value


def service_code_on_wire(raw: str) -> str:
    """``MaDVC`` as the contract takes it (<= 20 characters; national form if needed)."""
    if len(raw) <= 20:
        return _token(raw, "MaDVC", 20)
    try:
        code = PublicServiceCode.parse(raw)
    except IdentifierError as exc:
        raise InvalidInput(f"MaDVC: {exc.detail}", field="MaDVC") from None
    return _token(f"{code.procedure.national}.{code.suffix}", "MaDVC", 20)


def request_params(query: CitizenQuery, operation: str) -> dict[str, Any]:
    """The Body element's fields for ``operation`` (TraCuu or XacThuc), in sequence order."""
    if operation not in INTEGRATION_CODES:
        raise InvalidInput(f"unknown population operation {operation!r}")
    params: dict[str, Any] = {
        "MaYeuCau": _token(query.request_id, "MaYeuCau", 40),
        "MaDVC": service_code_on_wire(query.service_code),
        "MaTichHop": INTEGRATION_CODES[operation],
        "MaCanBo": _token(query.officer_code, "MaCanBo", 20),
    }
    if query.agency_code:
        params["MaDonVi"] = _token(query.agency_code, "MaDonVi", 35)
    if query.account:
        if len(query.account) > 50:
            raise InvalidInput("TaiKhoan must be at most 50 characters", field="TaiKhoan")
        params["TaiKhoan"] = query.account
    if query.phone:
        if not _PHONE.fullmatch(query.phone):
            raise InvalidInput("SoDienThoai must be 8 to 15 digits", field="SoDienThoai")
        params["SoDienThoai"] = query.phone
    if bool(query.id_number) == bool(query.old_id_number):
        raise InvalidInput(
            "give exactly one of SoDinhDanh (CCCD) and SoCMND (only without a CCCD)",
            field="SoDinhDanh",
        )
    if query.id_number:
        params["SoDinhDanh"] = Cccd.parse(query.id_number).value
    else:
        old = Cmnd.parse(query.old_id_number).value
        if len(old) != 9:
            raise InvalidInput(
                "SoCMND must be 9 digits (a 12-digit number is a CCCD)", field="SoCMND"
            )
        params["SoCMND"] = old
    name = " ".join(query.full_name.split())
    if not name or len(name) > 100:
        raise InvalidInput("HoVaTen must be 1 to 100 characters", field="HoVaTen")
    params["HoVaTen"] = name
    if query.birth.year_only:
        params["NgayThangNamSinh"] = {"Nam": query.birth.wire}
    else:
        params["NgayThangNamSinh"] = {"NgayThangNam": query.birth.wire}
    return params


# -- answers ------------------------------------------------------------------------------


def _q(name: str) -> str:
    return f"{{{ANSWER_NS}}}{name}"


def _text(parent: etree._Element, name: str) -> str:
    node = parent.find(_q(name))
    return " ".join((node.text or "").split()) if node is not None else ""


def _address(parent: etree._Element, name: str) -> Address | None:
    node = parent.find(_q(name))
    if node is None:
        return None
    return Address(
        province_code=_text(node, "MaTinhThanh"),
        province_name=_text(node, "TenTinhThanh"),
        district_code=_text(node, "MaQuanHuyen"),
        district_name=_text(node, "TenQuanHuyen"),
        ward_code=_text(node, "MaPhuongXa"),
        ward_name=_text(node, "TenPhuongXa"),
        detail=_text(node, "ChiTiet"),
        country=_text(node, "QuocGia"),
    )


def _relative(parent: etree._Element, name: str) -> Relative | None:
    node = parent.find(_q(name))
    if node is None:
        return None
    return Relative(
        full_name=_text(node, "HoVaTen"),
        nationality=_text(node, "QuocTich"),
        id_number=_text(node, "SoDinhDanh"),
        old_id_number=_text(node, "SoCMND"),
    )


def _birth(parent: etree._Element, operation: str, index: int) -> BirthDate | None:
    node = parent.find(_q("NgayThangNamSinh"))
    if node is None:
        return None
    text = _text(node, "NgayThangNam") or _text(node, "Nam")
    if not text:
        return None
    try:
        return BirthDate.parse(text)
    except InvalidInput:
        raise UpstreamMalformed(
            PARTNER, f"{operation}: CongDan[{index}]/NgayThangNamSinh is neither yyyyMMdd nor yyyy"
        ) from None


def parse_citizen(node: etree._Element, *, operation: str = LOOKUP, index: int = 0) -> Citizen:
    """One ``CongDan`` element (any child order, any prefix)."""
    id_number = _text(node, "SoDinhDanh")
    if not id_number:
        raise UpstreamMalformed(PARTNER, f"{operation}: CongDan[{index}] has no SoDinhDanh")
    name = node.find(_q("HoVaTen"))
    head = node.find(_q("ChuHo"))
    return Citizen(
        id_number=id_number,
        old_id_number=_text(node, "SoCMND"),
        family_name=_text(name, "Ho") if name is not None else "",
        middle_name=_text(name, "ChuDem") if name is not None else "",
        given_name=_text(name, "Ten") if name is not None else "",
        gender=_text(node, "GioiTinh"),
        birth=_birth(node, operation, index),
        ethnicity=_text(node, "DanToc"),
        religion=_text(node, "TonGiao"),
        nationality=_text(node, "QuocTich"),
        marital_status=_text(node, "TinhTrangHonNhan"),
        blood_group=_text(node, "NhomMau"),
        birth_registration=_address(node, "NoiDangKyKhaiSinh"),
        hometown=_address(node, "QueQuan"),
        permanent_address=_address(node, "ThuongTru"),
        current_address=_address(node, "NoiOHienTai"),
        father=_relative(node, "Cha"),
        mother=_relative(node, "Me"),
        spouse=_relative(node, "VoChong"),
        representative=_relative(node, "NguoiDaiDien"),
        household_head=None
        if head is None
        else HouseholdHead(
            relation=_text(head, "QuanHe"),
            id_number=_text(head, "SoDinhDanh"),
            old_id_number=_text(head, "SoCMND"),
            full_name=_text(head, "HoVaTen"),
        ),
        household_book=_text(node, "SoSoHoKhau"),
    )


def parse_collection(payload: etree._Element) -> list[Citizen]:
    """The lookup answer's ``CongdanCollection`` -> citizens (empty list = not found)."""
    if payload.tag != _q("CongdanCollection"):
        raise UpstreamMalformed(
            PARTNER, f"{LOOKUP}: answer element is {_name(payload)}, expected CongdanCollection"
        )
    return [
        parse_citizen(node, index=index)
        for index, node in enumerate(payload.iterchildren(_q("CongDan")))
    ]


def _boolean(parent: etree._Element, name: str) -> bool:
    text = _text(parent, name).lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise UpstreamMalformed(PARTNER, f"{VERIFY}: KetQuaXacThuc/{name} is not a boolean")


def parse_verification(payload: etree._Element) -> Verification:
    """The verification answer's ``KetQuaXacThuc``."""
    if payload.tag != _q("KetQuaXacThuc"):
        raise UpstreamMalformed(
            PARTNER, f"{VERIFY}: answer element is {_name(payload)}, expected KetQuaXacThuc"
        )
    return Verification(
        request_id=_text(payload, "MaYeuCau"),
        exists=_boolean(payload, "TonTai"),
        matches=_boolean(payload, "ThongTinChinhXac"),
        mismatched_fields=tuple(
            " ".join((node.text or "").split())
            for node in payload.iterchildren(_q("TruongKhongKhop"))
        ),
    )


def _name(element: etree._Element) -> str:
    qname = etree.QName(element)
    return f"{{{qname.namespace}}}{qname.localname}" if qname.namespace else qname.localname
