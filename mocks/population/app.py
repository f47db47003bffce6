"""The population database mock: SOAP lookups and verifications over a seeded population.

Served under ``/population`` (``mocks.server``):

    POST /population/ws                   SOAP 1.1 endpoint (TraCuu / XacThuc, SOAPAction "")
    GET  /population/ws?wsdl              the contract's WSDL (address = this mock)
    GET  /population/dancu-request.xsd    the XSDs the WSDL imports
    GET  /population/dancu-response.xsd
    POST /population/token                LGSP client-credentials token (see auth.py)
    POST /population/_mock/expire-tokens  control: expire every issued token

Rules:
- Every SOAP call is authenticated first (direct digest or Bearer, :mod:`.auth`), before
  any XML is parsed: refused with HTTP 401 and a Client.Authentication fault (MaLoi 100).
- Then the body is parsed with the framework's hardened parser (a DTD or entity is a
  Client.Malformed fault, MaLoi 501, and nothing is read) and the Body element is validated
  against ``contracts/population/dancu-request.xsd`` (Client.Validation, MaLoi 500, the
  schema's message naming the element); a schema-valid impossible date is refused the same.
- TraCuu returns the citizen only when number, name and birth date all match; otherwise an
  EMPTY collection (never a fault). XacThuc answers TonTai / ThongTinChinhXac and the
  fields that do not match. Names match case-insensitively after Unicode NFC and
  whitespace folding; a year-only birth record matches only a year-only (Nam) request.
- Injected faults answer in SOAP form on the SOAP route (Server fault, MaLoi 999) and in
  RFC 6749 JSON on the token route.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mocks.framework import (
    FaultSpec,
    MockRequest,
    MockResponse,
    PartnerMock,
    XmlRejected,
    contracts_dir,
    load_xsd,
    soap_parts,
    validate_xml,
)
from mocks.population import soap
from mocks.population.auth import AuthenticationError, Authenticator, TokenError
from mocks.population.people import Citizen
from mocks.population.seed import DEFAULT_SIZE, SEED, Population, generate_population
from mocks.settings import MockSettings

REQUEST_XSD = "population/dancu-request.xsd"
SOAP_PATH = "/ws"


def normalise_name(name: str) -> str:
    """Case-, whitespace- and Unicode-form-insensitive form of a full name."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def _valid_calendar_date(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return False
    return True


class PopulationMock(PartnerMock):
    """The National Population Database, as deployed clients see it."""

    name = "population"

    def __init__(
        self,
        settings: MockSettings | None = None,
        *,
        seed: int = SEED,
        size: int = DEFAULT_SIZE,
        token_ttl_seconds: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(seed)
        self.settings = settings or MockSettings()
        self.population: Population = generate_population(seed, size)
        self.auth = Authenticator(
            self.settings.population_username,
            self.settings.population_secret,
            self.settings.public_url,
            token_ttl_seconds=token_ttl_seconds,
            clock=clock,
        )
        self.route("POST", SOAP_PATH, self.soap_call)
        self.route("GET", SOAP_PATH, self.wsdl)
        self.route("GET", "/{schema}.xsd", self.xsd)
        self.route("POST", "/token", self.token)

    # -- SOAP -----------------------------------------------------------------------------
    def soap_call(self, request: MockRequest) -> MockResponse:
        try:
            self.auth.check(request.path, request.headers)
        except AuthenticationError as exc:
            return MockResponse.xml(soap.render_fault("100", str(exc)), status=401)
        if "xml" not in request.header("content-type"):
            return self._fault("500", "Content-Type must be text/xml (SOAP 1.1)")
        try:
            _, element = soap_parts(request.body)
        except XmlRejected as exc:
            return self._fault("501", str(exc))
        qname = element.tag if isinstance(element.tag, str) else ""
        operation = qname.rsplit("}", 1)[-1]
        if not qname.startswith(f"{{{soap.REQUEST_NS}}}") or operation not in soap.OPERATIONS:
            return self._fault("500", f"unknown operation element {qname or '?'} in the Body")
        errors = validate_xml(element, load_xsd(REQUEST_XSD))
        query = soap.parse_query(element)
        if errors:
            return self._fault("500", f"{operation}: {'; '.join(errors[:3])}", query.request_id)
        if query.birth_date and not _valid_calendar_date(query.birth_date):
            message = f"{operation}: NgayThangNam {query.birth_date} is not a calendar date"
            return self._fault("500", message, query.request_id)
        citizen = self._find(query)
        if query.operation == soap.LOOKUP:
            found = [citizen] if citizen and not self._mismatches(query, citizen) else []
            return MockResponse.xml(soap.render_collection(found))
        if citizen is None:
            missing = ["SoDinhDanh" if query.id_number else "SoCMND"]
            return MockResponse.xml(soap.render_verification(query.request_id, False, missing))
        mismatched = self._mismatches(query, citizen)
        return MockResponse.xml(soap.render_verification(query.request_id, True, mismatched))

    def _find(self, query: soap.CitizenQuery) -> Citizen | None:
        if query.id_number:
            return self.population.by_id.get(query.id_number)
        return self.population.by_old_id.get(query.old_id_number)

    @staticmethod
    def _mismatches(query: soap.CitizenQuery, citizen: Citizen) -> list[str]:
        mismatched = []
        if normalise_name(query.full_name) != normalise_name(citizen.full_name):
            mismatched.append("HoVaTen")
        if query.birth_date:
            birth_ok = citizen.birth_date_text == query.birth_date
        else:
            birth_ok = citizen.birth_year == query.birth_year
        if not birth_ok:
            mismatched.append("NgayThangNamSinh")
        return mismatched

    @staticmethod
    def _fault(code: str, message: str, request_id: str = "") -> MockResponse:
        return MockResponse.xml(soap.render_fault(code, message, request_id), status=500)

    # -- contract files -------------------------------------------------------------------
    def wsdl(self, request: MockRequest) -> MockResponse:
        if "wsdl" not in {key.lower() for key in request.query}:
            return MockResponse.text("POST SOAP 1.1 requests here; GET ?wsdl for the WSDL", 405)
        text = (contracts_dir() / "population" / "dancu.wsdl").read_text(encoding="utf-8")
        address = self.settings.public_url.rstrip("/") + "/population" + SOAP_PATH
        text = text.replace("http://localhost:8090/population/ws", address)
        return MockResponse.xml(text, soap=False)

    def xsd(self, request: MockRequest) -> MockResponse:
        name = request.path_params["schema"]
        if name not in ("dancu-request", "dancu-response"):
            return self.not_found(request)
        path = contracts_dir() / "population" / f"{name}.xsd"
        return MockResponse.xml(path.read_bytes(), soap=False)

    # -- LGSP token -----------------------------------------------------------------------
    def token(self, request: MockRequest) -> MockResponse:
        try:
            answer = self.auth.issue_token(request.headers, request.body)
        except TokenError as exc:
            headers = {"www-authenticate": 'Basic realm="population"'} if exc.status == 401 else {}
            body = {"error": exc.error, "error_description": exc.description}
            return MockResponse.json(body, status=exc.status, headers=headers)
        return MockResponse.json(answer, headers={"cache-control": "no-store"})

    # -- framework hooks ------------------------------------------------------------------
    def fault_response(self, request: MockRequest, spec: FaultSpec) -> MockResponse:
        if request.path == "/token":
            if spec.expired_session:
                body = {"error": "invalid_client", "error_description": "client session expired"}
                return MockResponse.json(body, status=401)
            body = {"error": "temporarily_unavailable", "error_description": "injected fault"}
            return MockResponse.json(body, status=spec.status or 503)
        if spec.expired_session:
            return MockResponse.xml(soap.render_fault("100", "Bearer token expired"), status=401)
        message = "Injected fault: service unavailable"
        return MockResponse.xml(soap.render_fault("999", message), status=spec.status or 500)

    def _control_extra(self, request: MockRequest) -> MockResponse:
        if (request.method.upper(), request.path.rstrip("/")) == ("POST", "/_mock/expire-tokens"):
            with self.lock:
                expired = self.auth.expire_tokens()
            return MockResponse.json({"mock": self.name, "expired_tokens": expired})
        return super()._control_extra(request)

    def state(self) -> dict[str, Any]:
        return {
            "endpoint": "/population" + SOAP_PATH,
            "count": len(self.population.citizens),
            "live_tokens": self.auth.live_tokens,
            "citizens": [_summary(citizen) for citizen in self.population.citizens],
        }

    def reset(self) -> None:
        with self.lock:
            super().reset()
            self.auth.forget_tokens()


def _summary(citizen: Citizen) -> dict[str, Any]:
    birth = (
        {"Nam": citizen.birth_year}
        if citizen.birth_year_only
        else {"NgayThangNam": citizen.birth_date_text}
    )
    return {
        "SoDinhDanh": citizen.id_number,
        "SoCMND": citizen.old_id_number,
        "HoVaTen": citizen.full_name,
        "GioiTinh": citizen.gender,
        "NgayThangNamSinh": birth,
        "SoSoHoKhau": citizen.household_book,
        "QuanHeChuHo": citizen.household_head.relation,
    }


def create_mock(settings: MockSettings) -> PopulationMock:
    """The factory ``mocks.server`` calls."""
    return PopulationMock(settings)
