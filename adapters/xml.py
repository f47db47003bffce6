"""Hardened XML and SOAP 1.1 plumbing for the SOAP partners (population, portal SOAP binding).

Rules:
- Every partner answer is parsed by :func:`parse_answer` only: no DTD loaded, no entity
  resolved, no network, ``huge_tree`` off, a size cap; any ``<!DOCTYPE``/``<!ENTITY`` is
  refused before parsing (and checked again after), so an XXE or billion-laughs answer
  reads no file, expands nothing and is refused in microseconds -> ``UpstreamMalformed``.
- zeep runs with :func:`zeep_settings` (strict, no huge tree, DTDs, entities and external
  references forbidden) and loads its WSDL from a local ``contracts/`` file through
  :class:`PartnerTransport`, which refuses to fetch anything over the network.
- zeep never does its own I/O: :class:`PartnerTransport` sends through the partner's
  :class:`~adapters.http.PartnerHttp` (timeouts, size cap, breaker, evidence), and
  :class:`SoapCaller` builds envelopes with zeep and sends them the same way.
- A SOAP Fault is classified by its ``faultcode``: ``Client`` (the request is wrong:
  resending it unchanged cannot help) -> ``UpstreamRejected``; ``Server`` and anything
  else -> ``UpstreamUnavailable`` (transient). The fault string is quoted shortened and
  with digit runs masked, since partners echo identifiers in it. An HTTP 500 that carries
  no SOAP envelope (empty, not XML, an HTML error page) is ``UpstreamUnavailable`` too.
- The breaker follows the same line (:func:`soap_partner_down`, passed to every
  ``PartnerHttp.send`` that expects a Fault on HTTP 500): a ``Server`` fault, or an HTTP
  5xx that is not a readable Fault, is a failure of the link; a ``Client`` fault, even on
  HTTP 500, means the partner is up and counts as a success.
- Parse answers by namespace (``{uri}local``), never by prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import zeep
from lxml import etree
from zeep.exceptions import Error as ZeepError
from zeep.wsdl.utils import etree_to_string

from adapters._text import mask_text
from adapters.http import NO_CONTEXT, CallContext, HttpAnswer, PartnerHttp, status_means_down
from gateway.domain.errors import (
    ConfigError,
    ContractViolation,
    UpstreamMalformed,
    UpstreamRejected,
    UpstreamUnavailable,
)

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def zeep_settings() -> zeep.Settings:
    """The only zeep settings the gateway uses."""
    return zeep.Settings(
        strict=True,
        xml_huge_tree=False,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_answer(
    data: bytes, *, partner: str, operation: str, max_bytes: int = 4 * 1024 * 1024
) -> etree._Element:
    """Parse an untrusted partner answer; raise ``UpstreamMalformed`` naming what is wrong."""
    if len(data) > max_bytes:
        raise UpstreamMalformed(
            partner, f"{operation}: XML answer of {len(data)} bytes over the {max_bytes}-byte limit"
        )
    if _FORBIDDEN.search(data) or _FORBIDDEN.search(data.replace(b"\x00", b"")):
        raise UpstreamMalformed(
            partner, f"{operation}: XML answer carries a DTD or entity: refused"
        )
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise UpstreamMalformed(
            partner, f"{operation}: XML answer is not well-formed ({exc.msg}, line {exc.lineno})"
        ) from exc
    if root is None:
        raise UpstreamMalformed(partner, f"{operation}: empty XML answer")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise UpstreamMalformed(partner, f"{operation}: XML answer carries a DTD: refused")
    return root


@dataclass(frozen=True)
class SoapFault:
    code: str  # local part of faultcode: Client, Server, or a dotted refinement
    string: str

    @property
    def is_client(self) -> bool:
        return self.code.split(".", 1)[0] == "Client"


def soap_body(envelope: etree._Element, *, partner: str, operation: str) -> etree._Element:
    """The ``soap:Body`` of a SOAP 1.1 envelope, by namespace; ``UpstreamMalformed`` if absent."""
    if envelope.tag != f"{{{SOAP11_NS}}}Envelope":
        raise UpstreamMalformed(
            partner,
            f"{operation}: answer root is {etree.QName(envelope).localname!r}, not a SOAP 1.1 Envelope",
        )
    body = envelope.find(f"{{{SOAP11_NS}}}Body")
    if body is None:
        raise UpstreamMalformed(partner, f"{operation}: SOAP answer has no Body")
    return body


def find_fault(body: etree._Element) -> SoapFault | None:
    """The SOAP 1.1 Fault in ``body``, if any (faultcode/faultstring are unqualified)."""
    fault = body.find(f"{{{SOAP11_NS}}}Fault")
    if fault is None:
        return None
    code = (fault.findtext("faultcode") or "").strip()
    local = code.rsplit(":", 1)[-1] if code else "Server"
    return SoapFault(code=local, string=(fault.findtext("faultstring") or "").strip())


def soap_partner_down(answer: HttpAnswer) -> bool:
    """The breaker rule for a SOAP answer: a ``Server`` fault or a 5xx that carries no
    readable Fault means the partner is down; a ``Client`` fault means it is up."""
    by_status = status_means_down(answer)
    fault: SoapFault | None = None
    if by_status or b"Fault" in answer.body:  # a 200 is parsed twice only if it may be a Fault
        try:
            envelope = parse_answer(
                answer.body, partner="", operation="", max_bytes=len(answer.body)
            )
            fault = find_fault(soap_body(envelope, partner="", operation=""))
        except UpstreamMalformed:
            fault = None
    return by_status if fault is None else not fault.is_client


def raise_for_fault(fault: SoapFault, *, partner: str, operation: str) -> None:
    """Turn a SOAP Fault into the gateway's error (see the module rules)."""
    detail = f"{operation}: SOAP Fault {fault.code}: {mask_text(fault.string)}"
    if fault.is_client:
        raise UpstreamRejected(partner, detail)
    raise UpstreamUnavailable(partner, detail)


class PartnerTransport(zeep.Transport):  # type: ignore[misc,unused-ignore]
    """A zeep transport on the partner's session: local WSDL only, I/O via PartnerHttp."""

    def __init__(self, http: PartnerHttp, operation: str = "soap") -> None:
        config = http.config
        super().__init__(  # type: ignore[no-untyped-call]
            timeout=config.connect_timeout + config.read_timeout,
            operation_timeout=(config.connect_timeout, config.read_timeout),
            session=http.session,
        )
        self.http = http
        self.operation = operation
        self.context = CallContext()

    def load(self, url: str) -> bytes:
        scheme = urlsplit(str(url)).scheme.lower()
        if scheme not in ("", "file") and not (len(scheme) == 1 and scheme.isalpha()):
            raise ConfigError(
                f"adapters.{self.http.partner}: WSDL/XSD must come from contracts/, not {url!r}"
            )
        path = str(url)[len("file://") :] if scheme == "file" else str(url)
        return Path(path).read_bytes()

    def post(
        self, address: str, message: bytes | str, headers: Mapping[str, str]
    ) -> requests.Response:
        body = message.encode("utf-8") if isinstance(message, str) else message
        answer = self.http.send(
            "POST",
            address,
            operation=self.operation,
            body=body,
            headers=headers,
            context=self.context,
            expect=(200, 500),
            partner_down=soap_partner_down,
        )
        response = requests.Response()
        response.status_code = answer.status
        response.headers.update(answer.headers)
        response._content = answer.body
        response.url = address
        return response


def load_wsdl(http: PartnerHttp, wsdl_path: Path) -> zeep.Client:
    """A zeep client for a WSDL file under ``contracts/``, hardened, I/O via ``http``."""
    if not wsdl_path.is_file():
        raise ConfigError(f"adapters.{http.partner}: WSDL file {wsdl_path} not found")
    return zeep.Client(  # type: ignore[no-untyped-call]
        wsdl=str(wsdl_path.resolve()), transport=PartnerTransport(http), settings=zeep_settings()
    )


@dataclass(frozen=True)
class SoapAnswer:
    """A successful SOAP answer: raw bytes (evidence), the envelope and the Body's payload."""

    raw: bytes
    envelope: etree._Element
    payload: etree._Element


class SoapCaller:
    """Builds a request with zeep from the WSDL, sends it via PartnerHttp, checks the answer."""

    def __init__(self, http: PartnerHttp, wsdl_path: Path, *, address: str = "") -> None:
        self.http = http
        self.client = load_wsdl(http, wsdl_path)
        self.address = address or http.config.base_url

    def build(
        self, operation: str, params: Mapping[str, Any], soap_headers: Any = None
    ) -> tuple[bytes, dict[str, str]]:
        """The request envelope bytes and HTTP headers zeep derives from the WSDL."""
        binding = self.client.service._binding
        kwargs = dict(params)
        if soap_headers is not None:
            kwargs["_soapheaders"] = soap_headers
        try:
            envelope, headers = binding._create(operation, (), kwargs, client=self.client)
        except (ZeepError, TypeError, ValueError) as exc:
            raise ContractViolation(
                f"{self.http.partner}: {operation}: request does not fit the WSDL: {exc}"
            ) from exc
        raw: bytes = etree_to_string(envelope)  # type: ignore[no-untyped-call]
        return raw, {str(k): str(v) for k, v in headers.items()}

    def call(
        self,
        operation: str,
        params: Mapping[str, Any],
        *,
        context: CallContext = NO_CONTEXT,
        headers: Mapping[str, str] | None = None,
        soap_headers: Any = None,
        personal: bool = False,
        idempotent: bool = False,
    ) -> SoapAnswer:
        body, wsdl_headers = self.build(operation, params, soap_headers)
        answer = self.http.send(
            "POST",
            self.address,
            operation=operation,
            body=body,
            headers={**wsdl_headers, **(headers or {})},
            context=context,
            expect=(200, 500),
            idempotent=idempotent,
            personal=personal,
            partner_down=soap_partner_down,
        )
        return self.check(operation, answer)

    def check(self, operation: str, answer: HttpAnswer) -> SoapAnswer:
        """Parse and classify an answer: Fault -> error, 500 without Fault -> unavailable.

        The breaker was settled by ``send`` with :func:`soap_partner_down`; never here.
        """
        partner = self.http.partner
        if answer.status == 500 and not answer.body.strip():
            raise UpstreamUnavailable(partner, f"{operation}: HTTP 500 with an empty body")
        try:
            envelope = parse_answer(
                answer.body,
                partner=partner,
                operation=operation,
                max_bytes=self.http.config.max_answer_bytes,
            )
            body = soap_body(envelope, partner=partner, operation=operation)
        except UpstreamMalformed:
            if answer.status == 500:  # a broken server (an HTML error page), not a refusal
                raise UpstreamUnavailable(
                    partner, f"{operation}: HTTP 500, not a SOAP Fault"
                ) from None
            raise
        fault = find_fault(body)
        if fault is not None:
            raise_for_fault(fault, partner=partner, operation=operation)
        if answer.status != 200:
            raise UpstreamUnavailable(partner, f"{operation}: HTTP {answer.status} without a Fault")
        payload = next((child for child in body if isinstance(child.tag, str)), None)
        if payload is None:
            raise UpstreamMalformed(partner, f"{operation}: SOAP Body is empty")
        return SoapAnswer(raw=answer.body, envelope=envelope, payload=payload)

    def deserialize(self, operation: str, answer: SoapAnswer) -> Any:
        """zeep's typed view of the answer (strict: a schema mismatch is malformed)."""
        operation_obj = self.client.service._binding.get(operation)
        try:
            return operation_obj.process_reply(answer.envelope)
        except (ZeepError, ValueError, TypeError) as exc:
            raise UpstreamMalformed(
                self.http.partner, f"{operation}: answer does not match the WSDL: {exc}"
            ) from exc
