"""Delivers one signed inbound event to the city dossier system (``contracts/city/``).

Rules:
- ``POST {base}/events`` with the envelope's exact body bytes (the JWS signs them: never
  re-encoded), ``X-Message-Id``, ``X-Message-Type``, ``X-Correlation-ID`` and ``X-JWS``
  (the envelope's detached JWS); an operator's replay keeps the message id and adds
  ``X-Replay-Count`` (the count its JWS signs as ``rpl``).
- ``202`` accepted and ``200`` duplicate ("already have it") are both success: the city
  deduplicates on the message id, so delivering twice is safe.
- ``401`` (signature refused), ``400`` (bad headers or event) and ``409`` (message id
  reused with another body) are permanent: :class:`CityRefused` (``UpstreamRejected``)
  with the city's ``reason``, not transient, so the worker parks the message at once; a
  refusal means the city is up, so it counts as a success on the breaker. ``5xx`` and
  timeouts are transient (``UpstreamUnavailable``, ``UpstreamTimeout``) and count as
  breaker failures: the messaging layer retries. A success answer that breaks the
  contract, or names another message id, is ``UpstreamMalformed``.
- Not retried here (the asynchronous path retries through the queue); recorded with the
  message id and correlation id; ``personal`` when the event carries a dossier.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from adapters._contracts import validator, violations
from adapters._text import mask_text
from adapters.http import CallContext, CircuitBreaker, HttpConfig, PartnerHttp
from gateway.domain.errors import InvalidInput, UpstreamMalformed, UpstreamRejected
from gateway.domain.exchange import ExchangeRecorder

PARTNER = "city"
CONTRACT = "city/openapi.yaml"
OPERATION = "deliver"
PERSONAL_TYPES = frozenset({"city.dossier.submitted"})


class CityRefused(UpstreamRejected):
    """The city refused the delivery for good; ``reason`` is its problem ``reason``."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        suffix = f": {mask_text(detail, 160)}" if detail else ""
        super().__init__(PARTNER, f"{OPERATION}: refused with HTTP {status} ({reason}){suffix}")
        self.http_status = status
        self.reason = reason


@dataclass(frozen=True)
class CityEvent:
    """One inbound event as the envelope carries it."""

    message_id: str
    type: str
    correlation_id: str
    body: bytes
    jws: str
    replay_count: int = 0  # > 0: an operator's replay (signed in the JWS as ``rpl``)


@dataclass(frozen=True)
class Delivery:
    """The city took the event (``accepted``) or already had it (``duplicate``)."""

    outcome: Literal["accepted", "duplicate"]
    http_status: int
    deliveries: int = 1


@dataclass(frozen=True)
class CityConfig:
    """``http.base_url`` is the city API's base (e.g. ``http://127.0.0.1:8090/city``)."""

    http: HttpConfig
    events_path: str = "/events"


class CityClient:
    """Delivers events; see the module rules."""

    def __init__(
        self, config: CityConfig, recorder: ExchangeRecorder, *, http: PartnerHttp | None = None
    ) -> None:
        self.config = config
        self.http = http or PartnerHttp(config.http, recorder)

    @property
    def breaker(self) -> CircuitBreaker:
        return self.http.breaker

    def deliver(self, event: CityEvent, dossier_code: str = "") -> Delivery:
        for name, value in (
            ("message_id", event.message_id),
            ("type", event.type),
            ("jws", event.jws),
        ):
            if not value:
                raise InvalidInput(f"city event: {name} is required", field=name)
        answer = self.http.send(
            "POST",
            self.config.events_path,
            operation=OPERATION,
            body=event.body,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json, application/problem+json",
                "X-Message-Id": event.message_id,
                "X-Message-Type": event.type,
                "X-Correlation-ID": event.correlation_id,
                "X-JWS": event.jws,
            }
            | ({"X-Replay-Count": str(event.replay_count)} if event.replay_count else {}),
            context=CallContext(event.correlation_id, event.message_id, dossier_code),
            expect=(200, 202, 400, 401, 409),
            personal=event.type in PERSONAL_TYPES,
        )
        data = _json(answer.body)
        if answer.status in (400, 401, 409):
            reason = str(data.get("reason", "unknown")) if isinstance(data, dict) else "unknown"
            detail = str(data.get("detail", "")) if isinstance(data, dict) else ""
            raise CityRefused(answer.status, reason[:40], detail)
        schema = "EventAccepted" if answer.status == 202 else "EventDuplicate"
        errors = violations(validator(CONTRACT, f"/components/schemas/{schema}"), data)
        if errors:
            raise UpstreamMalformed(
                PARTNER,
                f"{OPERATION}: HTTP {answer.status} answer breaks the contract: {'; '.join(errors)}",
            )
        if data["messageId"] != event.message_id:
            raise UpstreamMalformed(PARTNER, f"{OPERATION}: answer names another message id")
        if answer.status == 202:
            return Delivery("accepted", 202)
        return Delivery("duplicate", 200, int(data["deliveries"]))


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
