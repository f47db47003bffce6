"""The shared core of every partner mock: requests, responses, routes, faults, control API.

How a mock is built::

    class PortalMock(PartnerMock):
        name = "portal"

        def __init__(self, settings: MockSettings) -> None:
            super().__init__()
            self.route("POST", "/rest/login", self.login)
            self.route("GET", "/catalogue/{code}", self.one_procedure)  # path parameters

        def login(self, request: MockRequest) -> MockResponse:
            return MockResponse.json({"session": "..."})

        def state(self) -> dict[str, Any]: ...   # what GET /_mock/state shows
        def reset(self) -> None: ...             # back to the seeded state (call super)

and served either over HTTP (``asgi_app(mock)``, mounted under the partner prefix by
``mocks.server``) or in-process (``register_responses(rsps, base_url, mock)`` with the
``responses`` library). Both transports call the same :meth:`PartnerMock.handle`.

Rules:
- ``MockRequest.path`` is relative to the partner prefix (``/rest/login``, not
  ``/portal/rest/login``); header names are lower case; the body is raw bytes.
- ``handle`` records every partner request (``GET /_mock/requests``), applies the active
  faults (``POST /_mock/faults``, see :mod:`mocks._faults`), then dispatches by method and
  path. Control routes under ``/_mock/`` are never recorded and never faulted.
- Control API: ``GET /_mock/requests``, ``GET /_mock/state``, ``GET|POST /_mock/faults``
  (POST a spec object or a list of them; clear 400 on bad input), ``POST /_mock/reset``.
- A subclass answers faults in its partner's own form by overriding :meth:`fault_response`
  (SOAP Fault, ``error_code``, ``MaLoi``), unknown routes with :meth:`not_found`, and adds
  partner-specific control routes (``/_mock/pay/{ref}``, ``/_mock/push``) in
  :meth:`_control_extra`. In code: :meth:`add_fault`, :attr:`recorded`, :meth:`reset`.
- Timeouts and latency are not slept inside ``handle``: the answer carries ``delay_ms`` and
  ``hang``, and the transport sleeps (ASGI) or raises ``ReadTimeout`` (in-process).
- Mocks never import ``gateway/`` or ``adapters/``; they read ``contracts/``.

This module re-exports the helpers mocks need: ``parse_xml``, ``load_xsd``, ``validate_xml``,
``soap_fault``, ``json_validator``, ``schema_errors``, ``asgi_app``, ``register_responses``.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from mocks._contracts import json_validator, load_contract, schema_errors
from mocks._faults import FaultSpec, FaultSpecError, parse_fault_spec
from mocks._messages import MockRequest, MockResponse
from mocks._transport import asgi_app, register_responses
from mocks._xml import (
    XmlRejected,
    contracts_dir,
    load_xsd,
    parse_xml,
    soap_envelope,
    soap_fault,
    soap_parts,
    validate_xml,
)

__all__ = [
    "FaultSpec",
    "FaultSpecError",
    "Handler",
    "MockRequest",
    "MockResponse",
    "PartnerMock",
    "XmlRejected",
    "asgi_app",
    "contracts_dir",
    "json_validator",
    "load_contract",
    "load_xsd",
    "parse_xml",
    "register_responses",
    "schema_errors",
    "soap_envelope",
    "soap_fault",
    "soap_parts",
    "validate_xml",
]

MAX_RECORDED = 1000


Handler = Callable[[MockRequest], MockResponse]


@dataclass
class _ActiveFault:
    spec: FaultSpec
    remaining: int | None


def _compile(path_template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", path_template)
    pattern = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
        for index, part in enumerate(parts)
    )
    return re.compile(f"^{pattern}$")


class PartnerMock:
    """Base class of a partner mock; see the module docstring."""

    name: ClassVar[str] = "partner"

    def __init__(self, seed: int = 1) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[_ActiveFault] = []
        self._recorded: list[dict[str, Any]] = []
        self._sequence = 0
        self._seed = seed
        self._random = random.Random(seed)
        self.lock = threading.RLock()

    # -- subclass API ---------------------------------------------------------------------
    def route(self, method: str, path_template: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` on ``path_template`` (``{name}`` = segment)."""
        self._routes.append((method.upper(), _compile(path_template), handler))

    def state(self) -> dict[str, Any]:
        """What the mock holds, for ``GET /_mock/state``; subclasses extend it."""
        return {}

    def reset(self) -> None:
        """Forget requests and faults; subclasses also restore their seeded state."""
        with self.lock:
            self._faults.clear()
            self._recorded.clear()
            self._sequence = 0
            self._random = random.Random(self._seed)

    def fault_response(self, request: MockRequest, spec: FaultSpec) -> MockResponse:
        """The answer for an error-type fault (status, soap_fault, expired_session, rate)."""
        if spec.soap_fault:
            return MockResponse.xml(soap_fault("Server", "Injected fault"), status=500)
        if spec.expired_session:
            return MockResponse.json({"error": "session expired"}, status=401)
        return MockResponse.json({"error": "injected fault"}, status=spec.status or 500)

    def not_found(self, request: MockRequest) -> MockResponse:
        """The answer for a path no route serves."""
        return MockResponse.json(
            {"error": f"no route for {request.method} {request.path}"}, status=404
        )

    # -- dispatch -------------------------------------------------------------------------
    def handle(self, request: MockRequest) -> MockResponse:
        """Answer one request: control API, or record + faults + partner route."""
        if request.path.startswith("/_mock/"):
            return self._control(request)
        spec = self._take_fault(request)
        if spec is None:
            response = self._dispatch(request)
        else:
            response = self._apply_fault(request, spec)
        self._record(request, response, spec)
        return response

    def _dispatch(self, request: MockRequest) -> MockResponse:
        path_matched = False
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            path_matched = True
            if method == request.method.upper():
                return handler(replace(request, path_params=match.groupdict()))
        if path_matched:
            return MockResponse.json(
                {"error": f"method {request.method} not allowed on {request.path}"}, status=405
            )
        return self.not_found(request)

    def _take_fault(self, request: MockRequest) -> FaultSpec | None:
        with self.lock:
            for active in reversed(self._faults):
                if not active.spec.matches(request.method, request.path):
                    continue
                if active.remaining is not None:
                    active.remaining -= 1
                    if active.remaining <= 0:
                        self._faults.remove(active)
                if self._random.random() < active.spec.error_rate:
                    return active.spec
                return None
        return None

    def _apply_fault(self, request: MockRequest, spec: FaultSpec) -> MockResponse:
        if spec.timeout:
            return MockResponse(status=504, delay_ms=spec.latency_ms, hang=True)
        if spec.status is not None or spec.soap_fault or spec.expired_session:
            response = self.fault_response(request, spec)
        elif spec.is_error_only:
            response = self.fault_response(request, replace(spec, status=500))
        else:
            response = self._dispatch(request)
        body = response.body
        if spec.malformed:
            body = body[: max(1, len(body) // 2)] + b"\x00<<malformed"
        if spec.oversized_bytes is not None and len(body) < spec.oversized_bytes:
            body = body + b" " * (spec.oversized_bytes - len(body))
        return replace(response, body=body, delay_ms=spec.latency_ms)

    def _record(self, request: MockRequest, response: MockResponse, spec: FaultSpec | None) -> None:
        with self.lock:
            self._sequence += 1
            self._recorded.append(
                {
                    "seq": self._sequence,
                    "at": time.time(),
                    "method": request.method,
                    "path": request.path,
                    "query": dict(request.query),
                    "headers": dict(request.headers),
                    "body": request.body[:65536].decode("utf-8", errors="replace"),
                    "status": response.status,
                    "fault": spec.as_dict() if spec else None,
                }
            )
            del self._recorded[:-MAX_RECORDED]

    @property
    def recorded(self) -> list[dict[str, Any]]:
        """A copy of the recorded requests, oldest first."""
        with self.lock:
            return list(self._recorded)

    def add_fault(self, spec: FaultSpec) -> None:
        """Install a fault (the control API's ``POST /_mock/faults`` in code)."""
        with self.lock:
            self._faults.append(_ActiveFault(spec, spec.count))

    # -- control API ----------------------------------------------------------------------
    def _control(self, request: MockRequest) -> MockResponse:
        action = (request.method.upper(), request.path.rstrip("/"))
        if action == ("GET", "/_mock/requests"):
            return MockResponse.json({"mock": self.name, "requests": self.recorded})
        if action == ("GET", "/_mock/state"):
            with self.lock:
                return MockResponse.json({"mock": self.name, **self.state()})
        if action == ("GET", "/_mock/faults"):
            with self.lock:
                faults = [{**a.spec.as_dict(), "remaining": a.remaining} for a in self._faults]
            return MockResponse.json({"mock": self.name, "faults": faults})
        if action == ("POST", "/_mock/faults"):
            return self._post_faults(request)
        if action == ("POST", "/_mock/reset"):
            self.reset()
            return MockResponse.json({"mock": self.name, "reset": True})
        return self._control_extra(request)

    def _control_extra(self, request: MockRequest) -> MockResponse:
        """Subclass hook for extra control routes (e.g. paying a transaction)."""
        return MockResponse.json(
            {"error": f"unknown control route {request.method} {request.path}"}, status=404
        )

    def _post_faults(self, request: MockRequest) -> MockResponse:
        try:
            data = request.json()
        except ValueError:
            return MockResponse.json({"error": "fault specification is not JSON"}, status=400)
        items = data if isinstance(data, list) else [data]
        try:
            specs = [parse_fault_spec(item) for item in items]
        except FaultSpecError as exc:
            return MockResponse.json({"error": str(exc)}, status=400)
        for spec in specs:
            self.add_fault(spec)
        return MockResponse.json({"mock": self.name, "installed": [s.as_dict() for s in specs]})
