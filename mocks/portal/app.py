"""The portal mock (``/portal``): login, integration and sharing services, REST and SOAP.

Routes (relative to ``/portal``; contract: ``contracts/portal/openapi.yaml`` and
``portal.wsdl``):

- ``POST /rest/login``: ``{username, password}`` → ``{session, error_code: 0}``; wrong
  credentials ``error_code`` 1, bad request 2. Sessions expire after
  ``MockSettings.portal_session_ttl_seconds``.
- ``POST /rest/integration``: ``DongBoHoSoMC``, ``CapNhatTienDoHoSoMC``, ``TraCuuHoSo``.
- ``POST /rest/sharing``: ``LayDanhSachTTHC``, ``LayThuTuc``, ``LayDanhMucTinhThanh``,
  ``LayDanhMucCoQuan``, ``LayDanhMucLePhi``.
- ``POST /soap``: the SOAP binding (X-Road header; no session; ``madonvi`` must be the
  X-Road client's ``memberCode``).
- Control (besides the common ``/_mock/*``): ``POST /_mock/push`` sends a dossier
  "submitted online" (JSON body: field overrides, optional) to the gateway as a signed
  push (:mod:`mocks.portal.push`), stores it, and answers what the gateway said.

Order of checks on a REST call: body is a JSON object (else HTTP 400, ``02``); ``service``
known for the endpoint (``03``); ``session`` valid and unexpired (``01``); request valid
against the contract (``02``, message naming the field); ``madonvi`` is the account's
agency (``04``); then the service (``05``/``06``/``07``/``08``). Faults: ``expired_session``
drops the caller's session and answers ``01``; ``status`` answers that HTTP status with
``error_code`` 99 (a SOAP Fault on ``/soap``); ``soap_fault`` answers a Server fault.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from mocks.framework import (
    FaultSpec,
    MockRequest,
    MockResponse,
    PartnerMock,
    json_validator,
    schema_errors,
    soap_fault,
)
from mocks.portal import catalogue, soap
from mocks.portal.push import online_dossier, push_dossier
from mocks.portal.services import PortalStore, ServiceAnswer, ordered_record, sharing
from mocks.settings import MockSettings

CONTRACT = "portal/openapi.yaml"
INTEGRATION = {
    "DongBoHoSoMC": "DongBoHoSoMCRequest",
    "CapNhatTienDoHoSoMC": "CapNhatTienDoHoSoMCRequest",
    "TraCuuHoSo": "TraCuuHoSoRequest",
}
SHARING = {
    "LayDanhSachTTHC": "LayDanhSachTTHCRequest",
    "LayThuTuc": "LayThuTucRequest",
    "LayDanhMucTinhThanh": "LayDanhMucRequest",
    "LayDanhMucCoQuan": "LayDanhMucRequest",
    "LayDanhMucLePhi": "LayDanhMucRequest",
}


def _answer(answer: ServiceAnswer) -> MockResponse:
    body: dict[str, Any] = {"error_code": answer.error_code, "message": answer.message}
    if answer.ok and answer.result is not None:
        body["result"] = answer.result
    return MockResponse.json(body)


class PortalMock(PartnerMock):
    """Stateful mock of the national portal; see the module docstring."""

    name = "portal"

    def __init__(
        self,
        settings: MockSettings,
        clock: Callable[[], float] = time.time,
        http: httpx.Client | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock
        self.http = http or httpx.Client(timeout=10.0)
        self.sessions: dict[str, float] = {}
        self.store = PortalStore()
        self.pushes: list[dict[str, Any]] = []
        self.route("POST", "/rest/login", self.login)
        self.route("POST", "/rest/integration", self.integration)
        self.route("POST", "/rest/sharing", self.sharing)
        self.route("POST", "/soap", self.soap)

    # -- control --------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "dossiers": self.store.dossiers,
            "progress": self.store.progress,
            "active_sessions": sum(1 for expiry in self.sessions.values() if expiry > now),
            "catalogue_size": catalogue.size(),
            "pushes": self.pushes,
        }

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.sessions.clear()
            self.store = PortalStore()
            self.pushes = []

    def _control_extra(self, request: MockRequest) -> MockResponse:
        if (request.method, request.path.rstrip("/")) != ("POST", "/_mock/push"):
            return super()._control_extra(request)
        try:
            overrides = request.json() if request.body else {}
        except ValueError:
            overrides = None
        if not isinstance(overrides, dict):
            return MockResponse.json({"error": "body must be a JSON object"}, status=400)
        with self.lock:
            sequence = 5001 + len(self.pushes)
            record = online_dossier(self.settings.agency_code, sequence, overrides)
        outcome = push_dossier(
            self.http, self.settings.gateway_url, self.settings.portal_callback_secret, record
        )
        invalid = str(outcome.get("error", "")).startswith("record invalid")
        with self.lock:
            self.pushes.append(outcome)
            if not invalid:  # submitted on the portal: it holds the dossier either way
                self.store.dossiers.setdefault(record["MaHoSo"], ordered_record(record))
        status = 400 if invalid else 200
        return MockResponse.json({"record": record, **outcome}, status=status)

    def fault_response(self, request: MockRequest, spec: FaultSpec) -> MockResponse:
        if request.path == "/soap" or spec.soap_fault:
            if spec.expired_session:
                return MockResponse.xml(soap_fault("Client", "01: access denied"), status=500)
            return MockResponse.xml(
                soap_fault("Server", "Injected fault"), status=spec.status or 500
            )
        if spec.expired_session and request.path != "/rest/login":
            try:
                session = request.json().get("session")
            except (ValueError, AttributeError):
                session = None
            with self.lock:
                self.sessions.pop(str(session), None)
            return MockResponse.json(
                {"error_code": "01", "message": "Phiên làm việc không hợp lệ hoặc đã hết hạn"}
            )
        code: int | str = 99 if request.path == "/rest/login" else "99"
        return MockResponse.json(
            {"error_code": code, "message": "Lỗi hệ thống (injected)"}, status=spec.status or 500
        )

    # -- REST -----------------------------------------------------------------------------
    def login(self, request: MockRequest) -> MockResponse:
        try:
            data = request.json()
        except ValueError:
            return MockResponse.json({"error_code": 2, "message": "body is not JSON"}, status=400)
        errors = schema_errors(json_validator(CONTRACT, "/components/schemas/LoginRequest"), data)
        if errors:
            return MockResponse.json({"error_code": 2, "message": "; ".join(errors)})
        if (data["username"], data["password"]) != (
            self.settings.portal_username,
            self.settings.portal_password,
        ):
            return MockResponse.json(
                {"error_code": 1, "message": "Sai tên đăng nhập hoặc mật khẩu"}
            )
        token = str(uuid.uuid4())
        with self.lock:
            self.sessions[token] = self.clock() + self.settings.portal_session_ttl_seconds
        return MockResponse.json({"session": token, "error_code": 0})

    def _checked(
        self, request: MockRequest, services: dict[str, str]
    ) -> tuple[dict[str, Any], MockResponse | None]:
        try:
            data = request.json()
        except ValueError as exc:
            return {}, MockResponse.json(
                {"error_code": "02", "message": f"body is not JSON: {exc}"}, status=400
            )
        if not isinstance(data, dict):
            return {}, _answer(ServiceAnswer("02", "$: body must be a JSON object"))
        service = data.get("service")
        if not isinstance(service, str) or service not in services:
            return data, _answer(ServiceAnswer("03", f"service: dịch vụ {service!r} không tồn tại"))
        session = data.get("session")
        with self.lock:
            expiry = self.sessions.get(session) if isinstance(session, str) else None
            if expiry is not None and expiry <= self.clock():
                self.sessions.pop(str(session), None)
                expiry = None
        if expiry is None:
            return data, _answer(ServiceAnswer("01", "Phiên làm việc không hợp lệ hoặc đã hết hạn"))
        schema = f"/components/schemas/{services[service]}"
        errors = schema_errors(json_validator(CONTRACT, schema), data)
        if errors:
            return data, _answer(ServiceAnswer("02", "; ".join(errors[:10])))
        if data["madonvi"] != self.settings.agency_code:
            return data, _answer(
                ServiceAnswer("04", f"madonvi: đơn vị {data['madonvi']} không được phép")
            )
        return data, None

    def integration(self, request: MockRequest) -> MockResponse:
        data, refusal = self._checked(request, INTEGRATION)
        if refusal is not None:
            return refusal
        return _answer(self._integration(data))

    def _integration(self, data: dict[str, Any]) -> ServiceAnswer:
        with self.lock:
            if data["service"] == "DongBoHoSoMC":
                return self.store.sync(data["isUpdating"], data["data"])
            if data["service"] == "CapNhatTienDoHoSoMC":
                return self.store.update_progress(data["data"])
            return self.store.lookup(data["mahoso"])

    def sharing(self, request: MockRequest) -> MockResponse:
        data, refusal = self._checked(request, SHARING)
        if refusal is not None:
            return refusal
        return _answer(sharing(data["service"], data))

    # -- SOAP -----------------------------------------------------------------------------
    def soap(self, request: MockRequest) -> MockResponse:
        try:
            header, operation, body = soap.parse_request(request.body)
            data = soap.to_data(body)
            if operation == "DongBoHoSoMC":
                validator = json_validator(CONTRACT, "/components/schemas/DongBoHoSoMCRequest")
                full = {"session": "-", "service": operation, **data}
                errors = schema_errors(validator, full)
                if errors:
                    raise soap.SoapRequestError("; ".join(errors[:5]))
        except soap.SoapRequestError as exc:
            return MockResponse.xml(soap_fault("Client", str(exc)), status=500)
        client_member = header.findtext(f"{{{soap.XROAD_NS}}}client/{{{soap.ID_NS}}}memberCode")
        if data["madonvi"] != self.settings.agency_code or client_member != data["madonvi"]:
            answer = ServiceAnswer("04", f"madonvi: đơn vị {data['madonvi']} không được phép")
        elif operation in INTEGRATION:
            answer = self._integration({"service": operation, **data})
        else:
            answer = sharing(operation, data)
        result = answer.result if answer.ok else None
        if operation == "TraCuuHoSo" and result:
            result = result[0]
        envelope = soap.answer_envelope(
            operation, header, answer.error_code, answer.message, result
        )
        return MockResponse.xml(envelope)


def create_mock(settings: MockSettings) -> PortalMock:
    """The portal mock for ``mocks.server``."""
    return PortalMock(settings)
