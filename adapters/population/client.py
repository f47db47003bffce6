"""The population database client: TraCuuThongTinCongDan and XacThucThongTinCongDan.

Rules:
- A thin I/O shell over :mod:`adapters.population.wire` (pure translation): zeep builds
  the envelope from ``contracts/population/dancu.wsdl`` (loaded from disk, hardened),
  :class:`~adapters.http.PartnerHttp` sends it (timeouts, size cap, breaker, evidence).
- Both operations are idempotent reads on the synchronous path: retried (bounded) on
  transient failures. Every body is recorded with ``personal=True``.
- Authentication per configuration: ``direct`` (digest headers, fresh per attempt) or
  ``lgsp`` (cached Bearer token; a 401 refreshes it and retries once).
- Not found is ``None`` (an empty collection), never an error. A SOAP Fault ``Client.*``
  is ``UpstreamRejected``, ``Server`` is ``UpstreamUnavailable``. The service answers
  both on HTTP 500 (and ``Client.Authentication`` on 401), so the breaker is settled by
  the fault, not the status (:func:`adapters.xml.soap_partner_down`): a ``Client`` fault
  means the database is up, a ``Server`` fault or a bare 5xx counts as a failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from adapters.http import (
    NO_CONTEXT,
    CallContext,
    CircuitBreaker,
    HttpAnswer,
    HttpConfig,
    PartnerHttp,
)
from adapters.population import wire
from adapters.population.auth import TokenProvider, direct_headers
from adapters.population.records import Citizen, CitizenQuery, Verification
from adapters.xml import SoapCaller, soap_partner_down
from gateway.domain.errors import ConfigError, UpstreamMalformed
from gateway.domain.exchange import ExchangeRecorder

AuthScheme = Literal["direct", "lgsp"]


@dataclass(frozen=True)
class PopulationConfig:
    """``http.base_url`` is the SOAP endpoint (the exact URL the digest signs)."""

    http: HttpConfig
    wsdl_path: str
    auth_scheme: AuthScheme = "direct"
    username: str = ""  # direct: user; lgsp: client id
    secret: str = ""  # direct: secret; lgsp: client secret
    api_key: str = ""
    xroad_client: str = ""
    token_url: str = ""  # lgsp only

    def __post_init__(self) -> None:
        if self.auth_scheme not in ("direct", "lgsp"):
            raise ConfigError(
                f"adapters.population.auth_scheme must be 'direct' or 'lgsp', got {self.auth_scheme!r}"
            )
        if not self.username or not self.secret:
            raise ConfigError("adapters.population: username and secret are required")
        if self.auth_scheme == "lgsp" and not self.token_url:
            raise ConfigError("adapters.population.token_url is required with auth_scheme lgsp")


class PopulationClient:
    """Look up and verify citizens; see the module rules."""

    def __init__(
        self,
        config: PopulationConfig,
        recorder: ExchangeRecorder,
        *,
        http: PartnerHttp | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.http = http or PartnerHttp(config.http, recorder)
        self.soap = SoapCaller(self.http, Path(config.wsdl_path))
        self._wall_clock = wall_clock
        self.tokens: TokenProvider | None = None
        if config.auth_scheme == "lgsp":
            self.tokens = TokenProvider(self.http, config.token_url, config.username, config.secret)

    @property
    def breaker(self) -> CircuitBreaker:
        return self.http.breaker

    def lookup(self, query: CitizenQuery, context: CallContext = NO_CONTEXT) -> Citizen | None:
        """``TraCuuThongTinCongDan`` (037): the citizen, or None when not found."""
        answer = self._call(wire.LOOKUP, query, context)
        citizens = wire.parse_collection(self.soap.check(wire.LOOKUP, answer).payload)
        if len(citizens) > 1:
            raise UpstreamMalformed(
                "population", f"{wire.LOOKUP}: {len(citizens)} citizens for one number"
            )
        return citizens[0] if citizens else None

    def verify(self, query: CitizenQuery, context: CallContext = NO_CONTEXT) -> Verification:
        """``XacThucThongTinCongDan`` (003): whether the given data match a citizen."""
        answer = self._call(wire.VERIFY, query, context)
        return wire.parse_verification(self.soap.check(wire.VERIFY, answer).payload)

    def _call(self, operation: str, query: CitizenQuery, context: CallContext) -> HttpAnswer:
        params = wire.request_params(query, operation)  # refuses bad input before any I/O
        body, soap_headers = self.soap.build(operation, params)
        soap_headers["Content-Type"] = "text/xml; charset=utf-8"
        attempts = 2 if self.tokens is not None else 1
        for attempt in range(attempts):
            answer = self.http.send(
                "POST",
                self.soap.address,
                operation=operation,
                body=body,
                headers={**soap_headers, **self._auth_headers(context)},
                context=context,
                expect=(200, 401, 500),
                idempotent=True,
                personal=True,
                partner_down=soap_partner_down,
            )
            if answer.status == 401 and self.tokens is not None and attempt + 1 < attempts:
                self.tokens.invalidate()  # expired or revoked: one fresh token, one retry
                continue
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def _auth_headers(self, context: CallContext) -> dict[str, str]:
        config = self.config
        if self.tokens is not None:
            headers = {"Authorization": f"Bearer {self.tokens.token(context)}", "SOAPAction": '""'}
            if config.api_key:
                headers["ApiKey"] = config.api_key
            return headers
        return direct_headers(
            self.soap.address,
            username=config.username,
            secret=config.secret,
            now_ms=int(self._wall_clock() * 1000),
            api_key=config.api_key,
            xroad_client=config.xroad_client,
        )
