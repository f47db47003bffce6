"""Authenticating the portal's pushes (design.md, "Portal push authentication").

Headers ``X-Portal-Timestamp`` (epoch seconds), ``X-Portal-Nonce`` (unique per push),
``X-Portal-Signature`` = lowercase hex HMAC-SHA256 with the shared secret over
``timestamp + "." + nonce + "." + body bytes``.

Refused, each with its own reason: a missing or malformed header, a timestamp more than
the window (300 s) away from now, a bad signature (compared in constant time), a nonce
already seen within the window. Nonces live in the database so every ``serve`` process
shares them.

Spending the nonce: :meth:`PortalPushVerifier.check` authenticates without recording
anything (the API's security layer calls it before the body is validated); the nonce is
spent by the push's own unit of work, in the transaction that stores the pushed dossier
(``gateway.flows.dossiers.accept_portal_push``; ``gateway.store.nonces``). So a forger
cannot burn a real nonce, and the portal's retry of a push answered ``400`` (invalid
body) or ``5xx`` is not refused as a replay; a retry of an accepted push is (and would
answer the same message id anyway).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from gateway.domain.errors import SignatureInvalid
from gateway.store import nonces
from gateway.store.db import utcnow

_NONCE = re.compile(r"^[A-Za-z0-9._~-]{8,128}$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


def portal_signature(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The signature the portal computes (also used by tests and the mocks' docs)."""
    message = timestamp.encode() + b"." + nonce.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class PortalPushVerifier:
    def __init__(
        self,
        engine: Engine,
        secret: str,
        *,
        window: timedelta = timedelta(seconds=300),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not secret:
            raise ValueError("callbacks.portal_secret is not configured")
        self._engine = engine
        self._secret = secret
        self._window = window
        self._clock = clock

    def check(self, headers: Mapping[str, str], body: bytes) -> str:
        """Authenticate one push, recording nothing; returns the nonce.

        Raises :class:`SignatureInvalid`, ``nonce_reused`` for a nonce already spent.
        """
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("x-portal-timestamp", "")
        nonce = lowered.get("x-portal-nonce", "")
        signature = lowered.get("x-portal-signature", "")
        if not timestamp or not nonce or not signature:
            raise SignatureInvalid(
                "missing_header",
                "X-Portal-Timestamp, X-Portal-Nonce and X-Portal-Signature are all required",
            )
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise SignatureInvalid("malformed", "X-Portal-Timestamp must be epoch seconds")
        if not _NONCE.match(nonce):
            raise SignatureInvalid("malformed", "X-Portal-Nonce must be 8-128 URL-safe characters")
        if not _SIGNATURE.match(signature):
            raise SignatureInvalid(
                "malformed", "X-Portal-Signature must be 64 lowercase hex digits"
            )
        now = self._clock()
        if abs(now.timestamp() - int(timestamp)) > self._window.total_seconds():
            raise SignatureInvalid(
                "stale_timestamp",
                f"X-Portal-Timestamp is more than {int(self._window.total_seconds())} s from now",
            )
        expected = portal_signature(self._secret, timestamp, nonce, body)
        if not hmac.compare_digest(expected, signature):
            raise SignatureInvalid("bad_signature", "X-Portal-Signature does not match the body")
        if nonces.seen(self._engine, nonce):
            raise nonces.nonce_reused()
        return nonce

    def purge(self) -> int:
        """Forget nonces older than twice the window (their timestamps are refused anyway)."""
        return nonces.purge(self._engine, self._clock() - 2 * self._window)
