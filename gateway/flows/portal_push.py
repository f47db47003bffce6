"""Authenticating the portal's pushes (design.md, "Portal push authentication").

Headers ``X-Portal-Timestamp`` (epoch seconds), ``X-Portal-Nonce`` (unique per push),
``X-Portal-Signature`` = lowercase hex HMAC-SHA256 with the shared secret over
``timestamp + "." + nonce + "." + body bytes``.

Refused, each with its own reason: a missing or malformed header, a timestamp more than
the window (300 s) away from now, a bad signature (compared in constant time), a nonce
already seen within the window. The nonce is recorded only after the signature checks,
so a forger cannot burn a real nonce; nonces live in the database so every ``serve``
process shares them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from gateway.domain.errors import SignatureInvalid
from gateway.flows.tables import portal_nonces
from gateway.store.db import utcnow, write_tx

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

    def verify(self, headers: Mapping[str, str], body: bytes) -> str:
        """Check one push; returns the nonce. Raises :class:`SignatureInvalid`."""
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
        self._remember(nonce, now)
        return nonce

    def _remember(self, nonce: str, now: datetime) -> None:
        try:
            with write_tx(self._engine) as connection:
                connection.execute(portal_nonces.insert().values(nonce=nonce, seen_at=now))
        except IntegrityError:
            raise SignatureInvalid(
                "nonce_reused", "X-Portal-Nonce was already used within the window"
            ) from None

    def purge(self) -> int:
        """Forget nonces older than twice the window (their timestamps are refused anyway)."""
        cutoff = self._clock() - 2 * self._window
        with write_tx(self._engine) as connection:
            result = connection.execute(
                delete(portal_nonces).where(portal_nonces.c.seen_at < cutoff)
            )
        return int(result.rowcount or 0)
