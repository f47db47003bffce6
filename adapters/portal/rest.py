"""The portal's REST binding: login sessions and JSON service calls over PartnerHttp.

Rules (reference §2, ``contracts/portal/openapi.yaml``):
- Login: ``POST {url}{auth_endpoint}`` ``{"username","password"}`` -> ``{"session",
  "error_code": 0}``; ``error_code`` 1 (wrong credentials) or 2 -> ``UpstreamRejected``.
- The session is shared by every thread and reused until a call answers an auth error
  (``error_code`` "01", or HTTP 401); then one re-login (by the first thread that notices;
  the others reuse its new session) and one retry. Refused again -> ``UpstreamUnavailable``
  (transient: the portal's session service is misbehaving, not our request).
- Calls: ``POST {url}{integration_endpoint|share_endpoint}`` with ``session``, ``madonvi``,
  ``service`` and the service's parameters.
- Evidence: every request and answer goes to the recorder with the call's context, with the
  password and the session token replaced by ``***`` (credentials never enter the log).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from adapters.http import CallContext, PartnerHttp
from adapters.portal.answers import SESSION_REFUSED, PortalAnswer, read_answer
from adapters.portal.config import PortalConfig
from adapters.portal.service import Endpoint, PortalService
from gateway.domain.errors import UpstreamMalformed, UpstreamRejected, UpstreamUnavailable
from gateway.domain.exchange import Exchange, ExchangeRecorder
from gateway.domain.jsonbytes import compact_json

PARTNER = "portal"
_REDACTED = "***"
_JSON = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}


def _json_body(data: dict[str, Any]) -> bytes:
    return compact_json(data)


class RestPortalClient(PortalService):
    """The REST binding of :class:`~adapters.portal.port.PortalClient`."""

    def __init__(
        self, config: PortalConfig, recorder: ExchangeRecorder, *, http: PartnerHttp | None = None
    ) -> None:
        super().__init__(config)
        self.http = http or PartnerHttp(config.http_config(), recorder)
        self.recorder = recorder
        self._lock = threading.Lock()
        self._session = ""
        self.logins = 0  # how many times this client logged in (for metrics and tests)

    # -- session --------------------------------------------------------------------------
    def _current_session(self, context: CallContext) -> str:
        with self._lock:
            if not self._session:
                self._session = self._login(context)
            return self._session

    def _drop_session(self, stale: str) -> None:
        with self._lock:
            if self._session == stale:
                self._session = ""

    def _login(self, context: CallContext) -> str:
        body = _json_body({"username": self.config.username, "password": self.config.password})
        shown = _json_body({"username": self.config.username, "password": _REDACTED})
        data = self._post(self.config.auth_endpoint, body, shown, "login", context, False, False)
        if not isinstance(data, dict):
            raise UpstreamMalformed(PARTNER, "login: answer is not a JSON object")
        code, session = data.get("error_code"), data.get("session")
        if code == 0 and isinstance(session, str) and session:
            self.logins += 1
            return session
        if code in (1, 2):
            raise UpstreamRejected(
                PARTNER,
                f"login: refused with error_code {code} (check adapters.portal.username/password)",
            )
        raise UpstreamMalformed(PARTNER, f"login: answer error_code {code!r} without a session")

    # -- calls ----------------------------------------------------------------------------
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
        path = (
            self.config.integration_endpoint
            if endpoint == "integration"
            else self.config.share_endpoint
        )
        for attempt in (1, 2):
            session = self._current_session(context)
            head = {"session": session, "madonvi": self.config.agency_code, "service": service}
            body = _json_body({**head, **params})
            shown = _json_body({**head, "session": _REDACTED, **params})
            data = self._post(path, body, shown, service, context, personal, idempotent)
            if data is None or (
                isinstance(data, dict) and data.get("error_code") == SESSION_REFUSED
            ):
                self._drop_session(session)
                if attempt == 1:
                    continue
                raise UpstreamUnavailable(
                    PARTNER, f"{service}: session refused again after a fresh login"
                )
            return read_answer(data, service)
        raise AssertionError("unreachable")  # pragma: no cover

    def _post(
        self,
        path: str,
        body: bytes,
        shown: bytes,
        operation: str,
        context: CallContext,
        personal: bool,
        idempotent: bool,
    ) -> Any:
        """POST JSON; the parsed answer, or None for an HTTP 401 (auth error)."""
        self._record(operation, "out", shown, context, personal, None)
        answer = self.http.send(
            "POST",
            path,
            operation=operation,
            body=body,
            headers=_JSON,
            context=context,
            expect=(200, 401),
            idempotent=idempotent,
            personal=personal,
            record=False,
        )
        self._record(operation, "in", answer.body, context, personal, answer.status)
        if answer.status == 401:
            return None
        try:
            return json.loads(answer.body)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise UpstreamMalformed(
                PARTNER, f"{operation}: answer is not JSON ({len(answer.body)} bytes)"
            ) from None

    def _record(
        self,
        operation: str,
        direction: str,
        body: bytes,
        context: CallContext,
        personal: bool,
        status: int | None,
    ) -> None:
        if operation == "login" and direction == "in":
            body = _redact_session(body)
        self.recorder.record(
            Exchange(
                partner=PARTNER,
                operation=operation,
                direction="out" if direction == "out" else "in",
                body=body,
                correlation_id=context.correlation_id,
                message_id=context.message_id,
                dossier_code=context.dossier_code,
                personal=personal,
                status=status,
            )
        )


def _redact_session(body: bytes) -> bytes:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return body
    if isinstance(data, dict) and "session" in data:
        data["session"] = _REDACTED
        return _json_body(data)
    return body
