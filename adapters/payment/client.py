"""The payment platform client: INIT, QUERY and GET_BILL over JSON POST.

Rules:
- A thin I/O shell over :mod:`adapters.payment.wire` (pure, contract-checked messages)
  and :class:`~adapters.http.PartnerHttp` (TLS, timeouts, size cap, breaker, evidence).
- INIT creates a transaction: never retried (a retry would be a second attempt with a
  new ``MaThamChieu``, the caller's decision). QUERY and GET_BILL are idempotent reads:
  retried, bounded, on transient failures.
- INIT carries the payer's name and number: recorded with ``personal=True``.
- ``scheme`` chooses the ``MaXacThuc`` scheme per deployment.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.http import (
    NO_CONTEXT,
    CallContext,
    CircuitBreaker,
    HttpAnswer,
    HttpConfig,
    PartnerHttp,
)
from adapters.payment import wire
from adapters.payment.checksum import SCHEMES, Scheme
from adapters.payment.records import InitResult, PaymentRequest, PaymentStatus
from gateway.domain.errors import ConfigError
from gateway.domain.exchange import ExchangeRecorder

_JSON = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}


@dataclass(frozen=True)
class PaymentConfig:
    """``http.base_url`` is the platform's base (e.g. ``http://127.0.0.1:8090/payment``)."""

    http: HttpConfig
    partner_code: str
    secret: str
    scheme: Scheme = "sha256-suffix"
    init_path: str = "/api/v1/init"
    query_path: str = "/api/v1/query"
    bill_path: str = "/api/v1/bill"

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ConfigError(
                f"adapters.payment.scheme must be one of {', '.join(SCHEMES)}, got {self.scheme!r}"
            )
        if not self.partner_code or not self.secret:
            raise ConfigError("adapters.payment: partner_code and secret are required")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PaymentClient:
    """Create payments and ask for their status and receipt."""

    def __init__(
        self,
        config: PaymentConfig,
        recorder: ExchangeRecorder,
        *,
        http: PartnerHttp | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.config = config
        self.http = http or PartnerHttp(config.http, recorder)
        self._clock = clock
        self._references = wire.ReferenceClock()

    @property
    def breaker(self) -> CircuitBreaker:
        return self.http.breaker

    def init(
        self,
        request: PaymentRequest,
        context: CallContext = NO_CONTEXT,
        *,
        reference: str | None = None,
    ) -> InitResult:
        """INIT: a new transaction with a fresh ``MaThamChieu`` (or ``reference``, one the
        caller derived and keeps unique); the checkout URL."""
        at = self._references.next(self._clock())
        if reference is None:
            reference = wire.derive_reference(request.dossier_code, at)
        message = wire.init_message(
            request,
            partner_code=self.config.partner_code,
            secret=self.config.secret,
            scheme=self.config.scheme,
            reference=reference,
            sent_at=at,
        )
        answer = self.http.send(
            "POST",
            self.config.init_path,
            operation="INIT",
            body=json.dumps(message, ensure_ascii=False).encode("utf-8"),
            headers=_JSON,
            context=context,
            personal=True,
        )
        return wire.parse_init_answer(answer.body, reference, message["ThoiGianGD"])

    def query(self, reference: str, context: CallContext = NO_CONTEXT) -> PaymentStatus:
        """QUERY: the transaction's status (paid, pending, failed)."""
        answer = self._read("QUERY", self.config.query_path, reference, context)
        return wire.parse_query_answer(answer.body, reference)

    def get_bill(self, reference: str, context: CallContext = NO_CONTEXT) -> bytes:
        """GET_BILL: the receipt PDF of a paid transaction."""
        answer = self._read("GET_BILL", self.config.bill_path, reference, context)
        return wire.parse_bill_answer(answer.status, answer.content_type, answer.body)

    def _read(self, kind: str, path: str, reference: str, context: CallContext) -> HttpAnswer:
        message = wire.query_message(
            kind,
            reference,
            partner_code=self.config.partner_code,
            secret=self.config.secret,
            scheme=self.config.scheme,
            sent_at=self._clock(),
        )
        return self.http.send(
            "POST",
            path,
            operation=kind,
            body=json.dumps(message).encode("utf-8"),
            headers=_JSON,
            context=context,
            idempotent=True,
        )
