"""The city dossier system mock: receives the gateway's signed events, exactly once.

Served under ``/city`` (``mocks.server``): ``POST /city/events``, contract
``contracts/city/openapi.yaml`` (statuses, bodies and the order of checks are there).

Rules:
- Headers first (400), then the signature against the gateway's JWKS (401, see
  :mod:`mocks.city.signature`; 503 when the JWKS cannot be fetched), then deduplication by
  message id (a repeat with the same body is ``200 duplicate`` and counted; a different
  body under the same id is 409), then the body against the event's schema (400).
- Only accepted events are stored; a refused delivery is recorded in the request log
  only, so a retry after a fix is still "new".
- ``GET /_mock/state`` lists every received event with its delivery count per message id
  (``events``), totals (``accepted``, ``duplicates``) and the cached key ids, so tests
  can assert exactly-once delivery.
- Injected faults answer an RFC 7807 problem with ``reason`` ``unavailable``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mocks.city.signature import (
    EventVerifier,
    JwksUnavailable,
    SignatureRefused,
    fetch_jwks_over_http,
)
from mocks.framework import (
    FaultSpec,
    MockRequest,
    MockResponse,
    PartnerMock,
    json_validator,
    schema_errors,
)
from mocks.settings import MockSettings

CONTRACT = "city/openapi.yaml"
EVENT_SCHEMAS = {
    "city.dossier.submitted": "DossierSubmittedEvent",
    "city.payment.confirmed": "PaymentConfirmedEvent",
    "city.dossier.status_changed": "StatusChangedEvent",
}
_MESSAGE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TITLES = {400: "Bad event", 401: "Signature refused", 409: "Conflict", 503: "Unavailable"}


def problem(status: int, reason: str, detail: str, message_id: str = "") -> MockResponse:
    """An RFC 7807 problem in the contract's form."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "reason": reason,
    }
    if message_id:
        body["messageId"] = message_id
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return MockResponse(
        status=status, headers={"content-type": "application/problem+json"}, body=data
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CityMock(PartnerMock):
    """The city's one-stop system, receiving inbound events."""

    name = "city"

    def __init__(
        self,
        settings: MockSettings | None = None,
        *,
        jwks: dict[str, Any] | None = None,
        fetch_jwks: bool | Callable[[], dict[str, Any]] = True,
        jwks_refetch_interval: float = 1.0,
    ) -> None:
        """``jwks`` injects keys; ``fetch_jwks`` False never fetches, a callable replaces HTTP."""
        super().__init__()
        self.settings = settings or MockSettings()
        self.jwks_url = self.settings.gateway_url.rstrip("/") + "/.well-known/jwks.json"
        fetch: Callable[[], dict[str, Any]] | None
        if callable(fetch_jwks):
            fetch = fetch_jwks
        elif fetch_jwks:
            fetch = self._fetch_over_http
        else:
            fetch = None
        self.verifier = EventVerifier(fetch, refetch_interval=jwks_refetch_interval)
        if jwks is not None:
            self.verifier.set_jwks(jwks)
        self._events: dict[str, dict[str, Any]] = {}
        self._duplicates = 0
        self.route("POST", "/events", self.receive)

    def _fetch_over_http(self) -> dict[str, Any]:
        return fetch_jwks_over_http(self.jwks_url)

    def set_jwks(self, jwks: dict[str, Any]) -> None:
        """Inject the gateway's JWKS (tests; the running mock fetches it)."""
        self.verifier.set_jwks(jwks)

    def receive(self, request: MockRequest) -> MockResponse:
        message_id = request.header("x-message-id")
        message_type = request.header("x-message-type")
        correlation_id = request.header("x-correlation-id")
        signature = request.header("x-jws")
        for name, value in (
            ("X-Message-Id", message_id),
            ("X-Message-Type", message_type),
            ("X-Correlation-ID", correlation_id),
            ("X-JWS", signature),
        ):
            if not value:
                return problem(400, "missing_header", f"header {name} is required", message_id)
        if not _MESSAGE_ID.match(message_id):
            return problem(400, "invalid_header", "X-Message-Id must be a lowercase UUID")
        if message_type not in EVENT_SCHEMAS:
            detail = f"X-Message-Type {message_type!r} is not one of {sorted(EVENT_SCHEMAS)}"
            return problem(400, "invalid_header", detail, message_id)
        if not _CORRELATION_ID.match(correlation_id):
            return problem(400, "invalid_header", "X-Correlation-ID is malformed", message_id)
        try:
            replay_count = request.header("x-replay-count")
            header = self.verifier.verify(
                signature, request.body, message_id, message_type, replay_count
            )
        except SignatureRefused as exc:
            return problem(401, exc.reason, exc.detail, message_id)
        except JwksUnavailable as exc:
            return problem(503, "unavailable", str(exc), message_id)
        body_hash = hashlib.sha256(request.body).hexdigest()
        with self.lock:
            known = self._events.get(message_id)
            if known is not None:
                if known["bodySha256"] != body_hash:
                    detail = "message id already received with a different body"
                    return problem(409, "message_id_reused", detail, message_id)
                return self._duplicate(known)
        refusal, event = self._checked_event(request, message_type, message_id)
        if refusal is not None:
            return refusal
        received_at = _now()
        with self.lock:
            if message_id in self._events:  # a concurrent twin won the race
                return self._duplicate(self._events[message_id])
            self._events[message_id] = {
                "messageId": message_id,
                "type": message_type,
                "correlationId": correlation_id,
                "kid": header["kid"],
                "alg": header["alg"],
                "iat": header["iat"],
                "receivedAt": received_at,
                "deliveries": 1,
                "bodySha256": body_hash,
                "event": event,
            }
        answer = {"status": "accepted", "messageId": message_id, "receivedAt": received_at}
        return MockResponse.json(answer, status=202)

    def _duplicate(self, known: dict[str, Any]) -> MockResponse:
        """Count one more delivery of a known message id; answer "already have it"."""
        known["deliveries"] += 1
        self._duplicates += 1
        answer = {
            "status": "duplicate",
            "messageId": known["messageId"],
            "firstReceivedAt": known["receivedAt"],
            "deliveries": known["deliveries"],
        }
        return MockResponse.json(answer, status=200)

    def _checked_event(
        self, request: MockRequest, message_type: str, message_id: str
    ) -> tuple[MockResponse | None, Any]:
        if "json" not in request.header("content-type"):
            return problem(
                400, "not_json", "Content-Type must be application/json", message_id
            ), None
        try:
            event = request.json()
        except (ValueError, UnicodeDecodeError):
            return problem(400, "not_json", "body is not JSON", message_id), None
        if isinstance(event, dict) and event.get("event") not in (None, message_type):
            detail = f"body event {event.get('event')!r} is not X-Message-Type {message_type!r}"
            return problem(400, "event_type_mismatch", detail, message_id), None
        validator = json_validator(CONTRACT, f"/components/schemas/{EVENT_SCHEMAS[message_type]}")
        errors = schema_errors(validator, event)
        if errors:
            return problem(400, "invalid_event", "; ".join(errors[:3]), message_id), None
        return None, event

    # -- framework hooks ------------------------------------------------------------------
    def fault_response(self, request: MockRequest, spec: FaultSpec) -> MockResponse:
        status = spec.status or 503
        return problem(status, "unavailable", "the city system is unavailable (injected fault)")

    def not_found(self, request: MockRequest) -> MockResponse:
        return problem(404, "invalid_header", f"no route for {request.method} {request.path}")

    def events(self) -> list[dict[str, Any]]:
        """Received events, in arrival order (copies)."""
        with self.lock:
            return [dict(event) for event in self._events.values()]

    def deliveries(self, message_id: str) -> int:
        """How many times a message id was delivered (0 when never accepted)."""
        with self.lock:
            event = self._events.get(message_id)
            return int(event["deliveries"]) if event else 0

    def state(self) -> dict[str, Any]:
        return {
            "accepted": len(self._events),
            "duplicates": self._duplicates,
            "deliveries": {mid: event["deliveries"] for mid, event in self._events.items()},
            "events": list(self._events.values()),
            "jwksUrl": self.jwks_url,
            "kids": self.verifier.kids,
        }

    def reset(self) -> None:
        with self.lock:
            super().reset()
            self._events.clear()
            self._duplicates = 0


def create_mock(settings: MockSettings) -> CityMock:
    """The factory ``mocks.server`` calls."""
    return CityMock(settings)
