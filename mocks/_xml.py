"""Hardened XML parsing, XSD loading from ``contracts/`` and SOAP 1.1 helpers for the mocks.

Rules:
- Untrusted XML is parsed by :func:`parse_xml` only: no DTD is loaded, no entity is
  resolved, no network is used, ``huge_tree`` is off and the input is size-capped. Any
  ``<!DOCTYPE`` or ``<!ENTITY`` is refused outright (before and after parsing), so an XXE or
  billion-laughs request never reads a file or expands anything.
- Schemas are read from ``contracts/`` (the single source of truth), never from the
  network; imports between local XSDs are resolved from disk relative to the importing file.
- Mocks never import ``gateway/`` or ``adapters/``.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MAX_XML_BYTES = 2 * 1024 * 1024
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class XmlRejected(ValueError):
    """Untrusted XML was refused; the message says why (and where, when lxml knows)."""


def contracts_dir() -> Path:
    """The ``contracts/`` directory (``TTHC_CONTRACTS_DIR`` overrides the repository's)."""
    override = os.environ.get("TTHC_CONTRACTS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "contracts"


def _untrusted_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def parse_xml(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse untrusted XML bytes into an element; raise :class:`XmlRejected` on anything odd."""
    if len(data) > max_bytes:
        raise XmlRejected(f"XML document is {len(data)} bytes, over the {max_bytes}-byte limit")
    if _FORBIDDEN.search(data) or _FORBIDDEN.search(data.replace(b"\x00", b"")):
        raise XmlRejected("XML document contains a DTD (<!DOCTYPE or <!ENTITY): refused")
    try:
        root = etree.fromstring(data, parser=_untrusted_parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"XML is not well-formed: {exc.msg} (line {exc.lineno})") from exc
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlRejected("XML document contains a DTD: refused")
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise XmlRejected("XML document contains an entity reference: refused")
    return root


@lru_cache(maxsize=32)
def load_xsd(relative_path: str) -> etree.XMLSchema:
    """Compile an XSD under ``contracts/`` (e.g. ``"portal/portal.xsd"``), cached."""
    path = contracts_dir() / relative_path
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        document = etree.parse(str(path), parser)
        return etree.XMLSchema(document)
    except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise RuntimeError(f"cannot load XSD contracts/{relative_path}: {exc}") from exc


def validate_xml(element: etree._Element, schema: etree.XMLSchema) -> list[str]:
    """Validate ``element`` against ``schema``; return the errors (empty when valid)."""
    if schema.validate(element):
        return []
    return [f"line {err.line}: {err.message}" for err in schema.error_log]


def soap_envelope(body_xml: str, header_xml: str = "") -> bytes:
    """Wrap serialized body (and header) content in a SOAP 1.1 envelope."""
    header = f"<soapenv:Header>{header_xml}</soapenv:Header>" if header_xml else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}">{header}'
        f"<soapenv:Body>{body_xml}</soapenv:Body></soapenv:Envelope>"
    ).encode()


def soap_fault(fault_code: str, fault_string: str, detail: str = "") -> bytes:
    """A SOAP 1.1 Fault envelope; ``fault_code`` is ``Client`` or ``Server``."""
    detail_xml = f"<detail><message>{escape(detail)}</message></detail>" if detail else ""
    return soap_envelope(
        f"<soapenv:Fault><faultcode>soapenv:{escape(fault_code)}</faultcode>"
        f"<faultstring>{escape(fault_string)}</faultstring>{detail_xml}</soapenv:Fault>"
    )


def soap_parts(data: bytes) -> tuple[etree._Element | None, etree._Element]:
    """Parse a SOAP 1.1 envelope; return (Header or None, the single Body child)."""
    root = parse_xml(data)
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise XmlRejected(f"root element is {root.tag}, expected a SOAP 1.1 Envelope")
    header = root.find(f"{{{SOAP_ENV_NS}}}Header")
    body = root.find(f"{{{SOAP_ENV_NS}}}Body")
    if body is None:
        raise XmlRejected("SOAP Envelope has no Body")
    children = [child for child in body if isinstance(child.tag, str)]
    if len(children) != 1:
        raise XmlRejected(f"SOAP Body must hold exactly one element, found {len(children)}")
    return header, children[0]
