"""The portal's SOAP binding: X-Road header checks, XML <-> record conversion, envelopes.

Rules:
- Requests are parsed with the hardened parser (no DTD, no entities, no network) and
  validated against ``contracts/portal/portal.xsd`` (body) and ``xroad.xsd`` (header).
- The X-Road header must carry ``client``, ``service``, ``id`` and ``protocolVersion``
  (4.0); ``service/serviceCode`` must name the body's operation.
- Body elements become the same dicts the REST binding receives (repeated elements →
  lists, ``Gia`` → int), so one set of services serves both bindings.
- Answers echo the request's X-Road header; dicts serialize in their key order (the
  services keep the contract's order, which is the XSD's sequence order).
"""

from __future__ import annotations

import copy
from typing import Any

from lxml import etree

from mocks.framework import XmlRejected, load_xsd, soap_envelope, soap_parts, validate_xml

PORTAL_NS = "http://dichvucong.gov.vn/dvcqg/1.0"
XROAD_NS = "http://x-road.eu/xsd/xroad.xsd"
ID_NS = "http://x-road.eu/xsd/identifiers"
OPERATIONS = (
    "DongBoHoSoMC",
    "CapNhatTienDoHoSoMC",
    "TraCuuHoSo",
    "LayDanhSachTTHC",
    "LayThuTuc",
    "LayDanhMucTinhThanh",
)
LIST_FIELDS = frozenset(
    {
        "data",
        "result",
        "DinhDanhCHS",
        "TaiLieuNop",
        "DanhSachLePhi",
        "DanhSachHoSoBoSung",
        "DanhSachGiayToKetQua",
        "DSKetNoiCSDL",
    }
)
INT_FIELDS = frozenset({"Gia"})


class SoapRequestError(ValueError):
    """A SOAP request is refused with a Client fault; the message says why."""


def check_xroad_header(header: etree._Element | None, operation: str) -> etree._Element:
    """Validate the X-Road header block; return a copy to echo in the answer."""
    if header is None:
        raise SoapRequestError("missing SOAP Header with the X-Road header block")
    block = etree.Element(f"{{{XROAD_NS}}}headerBlock")
    for child in header:
        if isinstance(child.tag, str) and child.tag.startswith(f"{{{XROAD_NS}}}"):
            item = copy.deepcopy(child)
            for name in list(item.attrib):
                if name.startswith("{http://schemas.xmlsoap.org/soap/envelope/}"):
                    del item.attrib[name]
            block.append(item)
    errors = validate_xml(block, load_xsd("portal/xroad.xsd"))
    if errors:
        raise SoapRequestError("X-Road header invalid: " + "; ".join(errors[:5]))
    service_code = block.findtext(f"{{{XROAD_NS}}}service/{{{ID_NS}}}serviceCode")
    if service_code != operation:
        raise SoapRequestError(
            f"X-Road header service/serviceCode is {service_code!r} but the body is {operation}"
        )
    return block


def operation_of(body: etree._Element) -> str:
    """The operation name of a body element; refuses a foreign namespace or unknown name."""
    qname = etree.QName(body)
    if qname.namespace != PORTAL_NS or qname.localname not in OPERATIONS:
        raise SoapRequestError(f"unknown operation {body.tag}")
    return str(qname.localname)


def check_body(body: etree._Element) -> None:
    """Validate the body element against portal.xsd."""
    standalone = etree.fromstring(etree.tostring(body))
    errors = validate_xml(standalone, load_xsd("portal/portal.xsd"))
    if errors:
        raise SoapRequestError("request violates portal.xsd: " + "; ".join(errors[:5]))


def to_data(element: etree._Element) -> dict[str, Any]:
    """Convert a (valid) body element into the dict the REST binding would receive."""
    data: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        value: Any
        if len(child):
            value = to_data(child)
        elif name in INT_FIELDS:
            value = int((child.text or "0").strip())
        else:
            value = child.text or ""
        if name in LIST_FIELDS:
            data.setdefault(name, []).append(value)
        else:
            data[name] = value
    return data


def _append(parent: etree._Element, name: str, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _append(parent, name, item)
        return
    child = etree.SubElement(parent, f"{{{PORTAL_NS}}}{name}")
    if isinstance(value, dict):
        for key, item in value.items():
            _append(child, key, item)
    elif value is not None:
        child.text = str(value)


def answer_envelope(
    operation: str, header: etree._Element, error_code: str, message: str, result: Any
) -> bytes:
    """The response envelope: echoed X-Road header, ``{operation}Response`` body."""
    response = etree.Element(f"{{{PORTAL_NS}}}{operation}Response", nsmap={"dvc": PORTAL_NS})
    _append(response, "error_code", error_code)
    _append(response, "message", message)
    if result is not None and result != []:
        _append(response, "result", result)
    header_xml = "".join(etree.tostring(child, encoding="unicode") for child in header)
    return soap_envelope(etree.tostring(response, encoding="unicode"), header_xml)


def parse_request(data: bytes) -> tuple[etree._Element, str, etree._Element]:
    """Parse and check a SOAP request: (echo header block, operation, body element)."""
    try:
        header, body = soap_parts(data)
    except XmlRejected as exc:
        raise SoapRequestError(str(exc)) from exc
    operation = operation_of(body)
    block = check_xroad_header(header, operation)
    check_body(body)
    return block, operation, body
