"""Authentication of the portal's pushes (design doc, "portal push authentication").

Rules:
- ``X-Portal-Signature`` is the lowercase hex HMAC-SHA256, keyed with the shared secret,
  over ``timestamp + "." + nonce + "." + body bytes``; compared in constant time.
- The signature is checked first, then the timestamp (at most ``window`` seconds away
  from now, either side), then the nonce (unseen within the window): an unsigned request
  can therefore never burn a nonce.
- Refusals raise :class:`SignatureInvalid` with a stable reason: ``missing_header``,
  ``bad_signature``, ``stale_timestamp``, ``replayed_nonce``.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable

from gateway.domain.errors import SignatureInvalid


def portal_signature(secret: bytes, timestamp: str, nonce: str, body: bytes) -> str:
    """The signature the portal sends (also used by the mocks' own implementation in tests)."""
    message = timestamp.encode("ascii") + b"." + nonce.encode("ascii") + b"." + body
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def check_portal_signature(
    secret: bytes,
    *,
    timestamp: str | None,
    nonce: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    window_seconds: int,
) -> float:
    """Verify signature and timestamp; return the epoch second the nonce must be kept until."""
    if not timestamp or not nonce or not signature:
        raise SignatureInvalid("missing_header", "The portal push signature headers are missing.")
    if not (timestamp.isascii() and timestamp.isdigit()) or not nonce.isascii():
        raise SignatureInvalid("bad_signature", "The portal push signature is not valid.")
    expected = portal_signature(secret, timestamp, nonce, body)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise SignatureInvalid("bad_signature", "The portal push signature is not valid.")
    signed_at = int(timestamp)
    if abs(now - signed_at) > window_seconds:
        raise SignatureInvalid(
            "stale_timestamp",
            f"The portal push timestamp is more than {window_seconds} s away from the gateway's clock.",
        )
    return signed_at + window_seconds + 1


class InMemoryNonceStore:
    """A :class:`NonceStore` for one process (tests, the embedded single-process run).

    Several ``serve`` processes need a shared store (the database) instead.
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock or time.time

    def remember(self, nonce: str, expires_at: float) -> bool:
        now = self._clock()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {n: t for n, t in self._seen.items() if t > now}
            previous = self._seen.get(nonce)
            if previous is not None and previous > now:
                return False
            self._seen[nonce] = expires_at
            return True
