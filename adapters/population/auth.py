"""Authentication toward the population database: direct digest headers or an LGSP token.

Rules (reference section 4, contract ``dancu.wsdl``):
- ``direct``: headers ``Timestamp`` (epoch milliseconds), ``Authorization: Basic
  base64(username + ":" + sha256hex(endpoint_url + username + timestamp + secret))`` where
  ``endpoint_url`` is the exact URL posted to (no query), ``X-Road-Client``, ``ApiKey`` and
  ``SOAPAction: ""``. :func:`direct_headers` is pure (the clock is a parameter).
- ``lgsp``: an OAuth2 client-credentials token from ``token_url`` (client id and secret
  as HTTP Basic), sent as ``Authorization: Bearer``; cached until ``margin`` seconds
  before it expires, and fetched again when the service refuses it (:meth:`invalidate`).
- Secrets and tokens never appear in errors or in the evidence log (token answers are not
  recorded; the token request body holds no secret).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit, urlunsplit

from adapters.http import NO_CONTEXT, CallContext, PartnerHttp
from gateway.domain.errors import UpstreamMalformed, UpstreamRejected


def endpoint_url(url: str) -> str:
    """The URL as signed: scheme, host, port and path, without query or fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def digest(url: str, username: str, timestamp: str, secret: str) -> str:
    """``sha256hex(endpoint_url + username + timestamp + secret)``."""
    return hashlib.sha256((url + username + timestamp + secret).encode("utf-8")).hexdigest()


def direct_headers(
    url: str,
    *,
    username: str,
    secret: str,
    now_ms: int,
    api_key: str = "",
    xroad_client: str = "",
) -> dict[str, str]:
    """The direct-call headers for one request posted to ``url`` at ``now_ms``."""
    timestamp = str(now_ms)
    token = f"{username}:{digest(endpoint_url(url), username, timestamp, secret)}"
    headers = {
        "Timestamp": timestamp,
        "Authorization": "Basic " + base64.b64encode(token.encode("utf-8")).decode("ascii"),
        "SOAPAction": '""',
    }
    if xroad_client:
        headers["X-Road-Client"] = xroad_client
    if api_key:
        headers["ApiKey"] = api_key
    return headers


class TokenProvider:
    """LGSP client-credentials tokens, cached until shortly before expiry (thread-safe)."""

    def __init__(
        self,
        http: PartnerHttp,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        margin: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.token_url = token_url
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
        self.margin = margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._valid_until = 0.0
        self.fetches = 0

    def token(self, context: CallContext = NO_CONTEXT) -> str:
        with self._lock:
            if self._token and self._clock() < self._valid_until:
                return self._token
            token, expires_in = self._fetch(context)
            self._token = token
            self._valid_until = self._clock() + max(0.0, expires_in - self.margin)
            return token

    def invalidate(self) -> None:
        with self._lock:
            self._token = ""
            self._valid_until = 0.0

    def _fetch(self, context: CallContext) -> tuple[str, float]:
        self.fetches += 1
        answer = self.http.send(
            "POST",
            self.token_url,
            operation="token",
            body=urlencode({"grant_type": "client_credentials"}).encode("ascii"),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": f"Basic {self._basic}",
                "Accept": "application/json",
            },
            context=context,
            expect=(200, 400, 401),
            idempotent=True,
            record=False,
        )
        try:
            data = json.loads(answer.body)
        except (ValueError, RecursionError):
            raise UpstreamMalformed("population", "token: answer is not JSON") from None
        if not isinstance(data, dict):
            raise UpstreamMalformed("population", "token: answer is not a JSON object")
        if answer.status != 200:
            error = str(data.get("error", "?"))[:40]
            raise UpstreamRejected(
                "population", f"token: client credentials refused (HTTP {answer.status}, {error})"
            )
        token, kind, expires_in = (
            data.get("access_token"),
            data.get("token_type"),
            data.get("expires_in"),
        )
        if not isinstance(token, str) or not token:
            raise UpstreamMalformed("population", "token: answer has no access_token")
        if not isinstance(kind, str) or kind.lower() != "bearer":
            raise UpstreamMalformed("population", "token: token_type is not Bearer")
        if (
            isinstance(expires_in, bool)
            or not isinstance(expires_in, int | float)
            or expires_in <= 0
        ):
            raise UpstreamMalformed("population", "token: expires_in is not a positive number")
        return token, float(expires_in)
