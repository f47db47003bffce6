"""Authenticating the portal's pushes (design.md, "Portal push authentication").

Headers ``X-Portal-Timestamp`` (epoch seconds), ``X-Portal-Nonce`` (unique per push),
``X-Portal-Signature`` = lowercase hex HMAC-SHA256 with the shared secret over
``timestamp + "." + nonce + "." + body bytes``.

Refused, each with its own reason: a missing or malformed header, a timestamp more than
the window (300 s) away from now, a bad signature (compared in constant time), a nonce
already seen within the window. Nonces live in the database so every ``serve`` process
shares them.

Spending the nonce: :meth:`PortalPushVerifier.check` authenticates without recording
anything (the API's security layer calls it before the body is validated);
:meth:`~PortalPushVerifier.spend` records the nonce once the body is valid, just before
the push is accepted, and :meth:`~PortalPushVerifier.release` forgets it again when the
acceptance fails. So a forger cannot burn a real nonce, and the portal's retry of a push
answered ``400`` (invalid body) or ``5xx`` is not refused as a replay; a retry of an
accepted push is (and would answer the same message id anyway). :meth:`verify` is
``check`` then ``spend``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, select
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


def _reused() -> SignatureInvalid:
    return SignatureInvalid("nonce_reused", "X-Portal-Nonce was already used within the window")


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
        """:meth:`check` then :meth:`spend`; returns the nonce."""
        nonce = self.check(headers, body)
        self.spend(nonce)
        return nonce

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
        if self._seen(nonce):
            raise _reused()
        return nonce

    def _seen(self, nonce: str) -> bool:
        with self._engine.connect() as connection:
            found = connection.execute(
                select(portal_nonces.c.nonce).where(portal_nonces.c.nonce == nonce)
            ).first()
        return found is not None

    def spend(self, nonce: str) -> None:
        """Record ``nonce`` as used; ``nonce_reused`` if another request spent it first."""
        now = self._clock()
        try:
            with write_tx(self._engine) as connection:
                connection.execute(portal_nonces.insert().values(nonce=nonce, seen_at=now))
        except IntegrityError:
            raise _reused() from None

    def release(self, nonce: str) -> None:
        """Forget ``nonce``: the push it came with was not accepted, the portal may retry."""
        with write_tx(self._engine) as connection:
            connection.execute(delete(portal_nonces).where(portal_nonces.c.nonce == nonce))

    def purge(self) -> int:
        """Forget nonces older than twice the window (their timestamps are refused anyway)."""
        cutoff = self._clock() - 2 * self._window
        with write_tx(self._engine) as connection:
            result = connection.execute(
                delete(portal_nonces).where(portal_nonces.c.seen_at < cutoff)
            )
        return int(result.rowcount or 0)
