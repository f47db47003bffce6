"""Authentication of calls to the population database: direct-call digest and LGSP tokens.

Two ways in, both always accepted by the mock (which one a deployment uses is the
gateway's configuration):

- Direct call (X-Road style). Headers ``Timestamp`` (epoch milliseconds) and
  ``Authorization: Basic base64(username + ":" + sha256hex(endpoint_url + username +
  timestamp + secret))``. ``endpoint_url`` is the full URL the client posted to: scheme,
  host, port and path, no query (e.g. ``http://127.0.0.1:8090/population/ws``). The mock
  recognises it from its published address (``MockSettings.public_url`` + ``/population``
  + path) and from the request's ``Host`` header (scheme from ``X-Forwarded-Proto``, else
  http). The timestamp must lie within 5 minutes of the mock's clock.
- Integration platform (LGSP). ``POST /token`` (form ``grant_type=client_credentials``,
  client credentials as HTTP Basic or as form fields ``client_id``/``client_secret``)
  answers ``{"access_token", "token_type": "Bearer", "expires_in"}``; a call then carries
  ``Authorization: Bearer <token>`` until it expires. Token errors follow RFC 6749 §5.2.

Rules: secrets and digests are compared in constant time; a refusal says what is wrong
(missing header, stale timestamp, bad digest, unknown or expired token) but never echoes a
secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

CLOCK_WINDOW_MS = 5 * 60 * 1000
MOUNT_PREFIX = "/population"


class AuthenticationError(ValueError):
    """The call is not authenticated; the message says why."""


@dataclass(frozen=True)
class TokenError(ValueError):
    """A refused token request: RFC 6749 error code, description and HTTP status."""

    error: str
    description: str
    status: int


def digest(endpoint_url: str, username: str, timestamp: str, secret: str) -> str:
    """``sha256hex(endpoint_url + username + timestamp + secret)``."""
    return hashlib.sha256((endpoint_url + username + timestamp + secret).encode()).hexdigest()


def basic_authorization(endpoint_url: str, username: str, timestamp: str, secret: str) -> str:
    """The direct-call ``Authorization`` header value (what a client sends)."""
    token = f"{username}:{digest(endpoint_url, username, timestamp, secret)}"
    return "Basic " + base64.b64encode(token.encode()).decode()


class Authenticator:
    """Checks calls and issues tokens; ``clock`` returns epoch seconds."""

    def __init__(
        self,
        username: str,
        secret: str,
        public_url: str,
        *,
        token_ttl_seconds: float = 3600.0,
        clock: Callable[[], float],
    ) -> None:
        self._username = username
        self._secret = secret
        self._public_base = public_url.rstrip("/") + MOUNT_PREFIX
        self._ttl = token_ttl_seconds
        self._clock = clock
        self._tokens: dict[str, float] = {}

    # -- direct call ----------------------------------------------------------------------
    def endpoint_urls(self, path: str, headers: Mapping[str, str]) -> list[str]:
        """The URLs the client may have posted to (published address, then Host header)."""
        urls = [self._public_base + path]
        host = headers.get("host", "")
        if host:
            scheme = headers.get("x-forwarded-proto", "http").split(",")[0].strip()
            urls.append(f"{scheme}://{host}{MOUNT_PREFIX}{path}")
        return urls

    def check(self, path: str, headers: Mapping[str, str]) -> str:
        """Accept a direct or bearer call; return the mode (``direct``/``bearer``) or raise."""
        authorization = headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer":
            self._check_bearer(credentials.strip())
            return "bearer"
        if scheme.lower() == "basic":
            self._check_direct(path, headers, credentials.strip())
            return "direct"
        if not authorization:
            raise AuthenticationError("missing Authorization header (Basic digest or Bearer)")
        raise AuthenticationError(f"unsupported Authorization scheme {scheme!r}")

    def _check_direct(self, path: str, headers: Mapping[str, str], credentials: str) -> None:
        timestamp = headers.get("timestamp", "")
        if not timestamp:
            raise AuthenticationError("missing Timestamp header (epoch milliseconds)")
        if not timestamp.isdigit():
            raise AuthenticationError("Timestamp header must be epoch milliseconds (digits)")
        now_ms = int(self._clock() * 1000)
        if abs(now_ms - int(timestamp)) > CLOCK_WINDOW_MS:
            raise AuthenticationError("Timestamp is more than 5 minutes away from the server clock")
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise AuthenticationError("Authorization Basic value is not base64") from exc
        username, sep, given = decoded.partition(":")
        if not sep:
            raise AuthenticationError("Authorization Basic value must be username:digest")
        user_ok = hmac.compare_digest(username.encode(), self._username.encode())
        digest_ok = False
        for url in self.endpoint_urls(path, headers):
            expected = digest(url, self._username, timestamp, self._secret)
            digest_ok |= hmac.compare_digest(given.lower().encode(), expected.encode())
        if not (user_ok and digest_ok):
            raise AuthenticationError("Authorization digest does not match (user, URL or secret)")

    # -- tokens (LGSP) --------------------------------------------------------------------
    def _check_bearer(self, token: str) -> None:
        if not token:
            raise AuthenticationError("empty Bearer token")
        expires = self._tokens.get(token)
        if expires is None:
            raise AuthenticationError("unknown Bearer token")
        if expires <= self._clock():
            raise AuthenticationError("Bearer token expired")

    def issue_token(self, headers: Mapping[str, str], body: bytes) -> dict[str, object]:
        """Answer a client-credentials token request, or raise :class:`TokenError`."""
        content_type = headers.get("content-type", "")
        if "application/x-www-form-urlencoded" not in content_type:
            raise TokenError(
                "invalid_request", "body must be application/x-www-form-urlencoded", 400
            )
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise TokenError("invalid_request", "body is not UTF-8", 400) from None
        grant = form.get("grant_type", "")
        if not grant:
            raise TokenError("invalid_request", "missing grant_type", 400)
        if grant != "client_credentials":
            raise TokenError("unsupported_grant_type", f"grant_type {grant!r} not supported", 400)
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise TokenError(
                    "invalid_client", "Basic credentials are not base64", 401
                ) from None
            client_id, _, client_secret = pair.partition(":")
        if not client_id:
            raise TokenError("invalid_client", "no client credentials", 401)
        ok = hmac.compare_digest(client_id.encode(), self._username.encode())
        ok &= hmac.compare_digest(client_secret.encode(), self._secret.encode())
        if not ok:
            raise TokenError("invalid_client", "client authentication failed", 401)
        token = secrets.token_urlsafe(32)
        self._tokens[token] = self._clock() + self._ttl
        return {"access_token": token, "token_type": "Bearer", "expires_in": int(self._ttl)}

    def expire_tokens(self) -> int:
        """Expire every issued token (control API); return how many there were."""
        count = len(self._tokens)
        self._tokens = dict.fromkeys(self._tokens, 0.0)
        return count

    def forget_tokens(self) -> None:
        self._tokens.clear()

    @property
    def live_tokens(self) -> int:
        now = self._clock()
        return sum(1 for expires in self._tokens.values() if expires > now)
