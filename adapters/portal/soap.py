"""The portal's SOAP binding (through NDXP, X-Road message protocol 4.0), with zeep.

Rules (reference §2, ``contracts/portal/portal.wsdl`` + ``portal.xsd`` + ``xroad.xsd``):
- zeep builds every request from the local WSDL (:class:`adapters.xml.SoapCaller`: hardened
  settings, no network fetch, I/O through PartnerHttp with timeouts, size cap, breaker and
  evidence). The request body is validated against ``portal.xsd`` before it is sent.
- Every request carries the X-Road header block: ``client`` (SUBSYSTEM), ``service``
  (SERVICE, ``serviceCode`` = the operation), ``id`` (a fresh UUID per call), ``userId``,
  ``issue`` (the dossier code, empty for catalogue calls) and ``protocolVersion`` 4.0.
- No login: the security server authenticates the member by its TLS certificate.
  ``error_code`` "01" here means the X-Road identity was refused -> transient (like a
  session refused after re-login on REST), other codes as in :mod:`adapters.portal.answers`.
- SOAP Fault ``Client`` -> ``UpstreamRejected``; ``Server`` / HTTP 500 -> ``UpstreamUnavailable``;
  an answer that is not XML, carries a DTD, or does not match the WSDL -> ``UpstreamMalformed``.
  The breaker follows the fault, not the status (:func:`adapters.xml.soap_partner_down`):
  a ``Server`` fault or a bare 5xx is a failure, a ``Client`` fault on HTTP 500 is not.
- The answer is turned into the same plain data as the REST binding's JSON (absent
  elements absent, empty ones ``""``, parsed by namespace, never by prefix), so
  :mod:`adapters.portal.service` reads both the same way.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from adapters.http import CallContext, PartnerHttp
from adapters.portal import contract
from adapters.portal.answers import PortalAnswer, read_answer, safe_message
from adapters.portal.config import PortalConfig
from adapters.portal.service import Endpoint, PortalService
from adapters.xml import SoapCaller, soap_partner_down
from gateway.domain.errors import ContractViolation, UpstreamMalformed
from gateway.domain.exchange import ExchangeRecorder

PARTNER = "portal"
XSD = "portal/portal.xsd"
PORTAL_NS = "http://dichvucong.gov.vn/dvcqg/1.0"
_SCHEMA_LOCK = threading.Lock()  # an XMLSchema keeps its error log on itself


@cache
def request_schema() -> etree.XMLSchema:
    """``portal.xsd`` compiled (local file, hardened parser)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(contract.contract_path(XSD)), parser=parser))


def element_data(node: etree._Element, xsd_type: Any, where: str) -> dict[str, Any]:
    """An answer element as the REST binding's JSON: exact (absent stays absent, empty is
    ``""``), repeated elements as lists, numbers as ``int``, guided by zeep's XSD types."""
    definitions = {name: element for name, element in getattr(xsd_type, "elements", [])}
    data: dict[str, Any] = {}
    for child in node:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        element = definitions.get(qname.localname)
        if element is None or qname.namespace != PORTAL_NS:
            raise UpstreamMalformed(PARTNER, f"{where}: unexpected element {qname.localname!r}")
        path = f"{where}.{qname.localname}"
        if getattr(element.type, "elements", None):
            value: Any = element_data(child, element.type, path)
        else:
            text = child.text or ""
            try:
                value = element.type.pythonvalue(text) if text else ""
            except (ValueError, TypeError, ArithmeticError):
                raise UpstreamMalformed(PARTNER, f"{path}: value does not fit its type") from None
            if not isinstance(value, int) or isinstance(value, bool):
                value = text
        if element.max_occurs != 1:
            data.setdefault(qname.localname, []).append(value)
        else:
            data[qname.localname] = value
    return data


class SoapPortalClient(PortalService):
    """The SOAP binding of :class:`~adapters.portal.port.PortalClient`."""

    def __init__(
        self,
        config: PortalConfig,
        recorder: ExchangeRecorder,
        *,
        http: PartnerHttp | None = None,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        super().__init__(config)
        self.http = http or PartnerHttp(config.http_config(), recorder)
        wsdl = contract.contract_path(contract.WSDL)
        self.caller = SoapCaller(self.http, Path(wsdl), address=self.http.url(config.soap_path))
        self._new_id = new_id

    def xroad_header(self, service: str, issue: str) -> dict[str, Any]:
        """The X-Road header block for one call (a fresh ``id`` each time)."""
        x = self.config.xroad
        return {
            "client": {
                "objectType": "SUBSYSTEM",
                "xRoadInstance": x.instance,
                "memberClass": x.member_class,
                "memberCode": x.member_code,
                "subsystemCode": x.subsystem_code,
            },
            "service": {
                "objectType": "SERVICE",
                "xRoadInstance": x.instance,
                "memberClass": x.service_member_class,
                "memberCode": x.service_member_code,
                "subsystemCode": x.service_subsystem_code,
                "serviceCode": service,
                "serviceVersion": x.service_version,
            },
            "id": self._new_id(),
            "userId": x.user_id,
            "issue": issue,
            "protocolVersion": "4.0",
        }

    def _call(
        self,
        service: str,
        params: dict[str, Any],
        *,
        endpoint: Endpoint,
        context: CallContext,
        personal: bool,
        idempotent: bool,
    ) -> PortalAnswer:
        body_params = {"madonvi": self.config.agency_code, **params}
        header = self.xroad_header(service, context.dossier_code)
        raw, headers = self.caller.build(service, body_params, header)
        _check_request(raw, service)
        answer = self.http.send(
            "POST",
            self.caller.address,
            operation=service,
            body=raw,
            headers=headers,
            context=context,
            expect=(200, 500),
            idempotent=idempotent,
            personal=personal,
            partner_down=soap_partner_down,
        )
        soap = self.caller.check(service, answer)
        self.caller.deserialize(service, soap)  # zeep's strict check against the WSDL
        response = self.caller.client.get_element(  # type: ignore[no-untyped-call]
            f"{{{PORTAL_NS}}}{service}Response"
        )
        if soap.payload.tag != f"{{{PORTAL_NS}}}{service}Response":
            raise UpstreamMalformed(PARTNER, f"{service}: answer is not a {service}Response")
        data = element_data(soap.payload, response.type, service)
        return read_answer(data, service)


def _check_request(raw: bytes, service: str) -> None:
    """The request's Body payload must satisfy portal.xsd (zeep does not check facets)."""
    envelope = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False))
    body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    payload = body[0] if body is not None and len(body) else None
    schema = request_schema()
    with _SCHEMA_LOCK:
        valid = payload is not None and schema.validate(etree.ElementTree(payload))
        error = None if valid else schema.error_log.last_error
    if not valid:
        where = error.path if error is not None else "Body"
        why = safe_message(error.message) if error is not None else "no payload"
        raise ContractViolation(f"{service}: request breaks portal.xsd at {where}: {why}")
