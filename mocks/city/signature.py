"""Verification of the gateway's detached JWS on delivered events, against its JWKS.

Written from the contract (``contracts/city/openapi.yaml``), not from the gateway's code:
the protected header is ``{"alg", "kid", "iat", "mid", "mty", "aud"}``, the signing input
``b64url(header) "." b64url(body)`` over the exact body bytes, and the header value
``b64url(header) ".." b64url(signature)``.

Rules, each refusal a :class:`SignatureRefused` with the contract's ``reason``, in order:
``malformed_signature`` (shape, base64url, JSON, a claim missing or mistyped),
``alg_not_allowed`` (not ES256/EdDSA, or not the key's), ``unknown_kid`` (not in the
JWKS, even after fetching it again), ``bad_signature``, then ``message_id_mismatch``,
``type_mismatch``, ``recipient_mismatch`` (claims against the headers and ``city``),
``replay_mismatch`` (a replay's signed ``rpl`` is not ``X-Replay-Count``, or one is missing).
Claims are compared only after the signature verifies. The JWKS is fetched lazily from
``{gateway_url}/.well-known/jwks.json``, cached, and fetched again when a ``kid`` is
unknown (at most once per ``refetch_interval`` seconds: an unknown ``kid`` inside that
interval is :class:`JwksUnavailable` too, so a delivery racing a key rotation is retried,
not parked); a JWKS that cannot be fetched is :class:`JwksUnavailable` (the city answers
503, the gateway retries). Tests inject a JWKS
with :meth:`EventVerifier.set_jwks`.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import Key, import_key
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

ALGORITHMS = ("ES256", "EdDSA")
AUDIENCE = "city"
_KEY_TYPES = {"ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519")}
_CLAIMS: dict[str, type] = {"alg": str, "kid": str, "iat": int, "mid": str, "mty": str, "aud": str}


class SignatureRefused(Exception):
    """The event's signature is refused; ``reason`` is the contract's code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class JwksUnavailable(Exception):
    """The gateway's JWKS could not be fetched or parsed."""


class _Registry(JWSRegistry):
    """Our header claims and algorithms; EdDSA is chosen knowingly (no per-call warning)."""

    max_payload_length = 64 * 1024 * 1024

    def get_alg(self, name: str) -> Any:
        if name not in ALGORITHMS or name not in self.algorithms:
            raise JoseError(f"algorithm {name!r} not allowed")
        return self.algorithms[name]


_REGISTRY = _Registry(
    header_registry={
        "iat": HeaderParameter("Issued at", "int", True),
        "mid": HeaderParameter("Message id", "str", True),
        "mty": HeaderParameter("Message type", "str", True),
        "aud": HeaderParameter("Recipient", "str", True),
        "rpl": HeaderParameter("Replay count", "int", False),
    },
    algorithms=list(ALGORITHMS),
)


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def parse_protected_header(value: str) -> dict[str, Any]:
    """The protected header of a detached compact JWS, shape-checked (unverified)."""
    parts = value.split(".")
    if len(parts) != 3 or parts[1] != "" or not parts[0] or not parts[2]:
        raise SignatureRefused("malformed_signature", "X-JWS must be header..signature")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        _b64url_decode(parts[2])
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise SignatureRefused("malformed_signature", "X-JWS is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise SignatureRefused("malformed_signature", "JWS header is not a JSON object")
    for claim, kind in _CLAIMS.items():
        value_ = header.get(claim)
        if not isinstance(value_, kind) or isinstance(value_, bool):
            raise SignatureRefused(
                "malformed_signature", f"JWS header claim {claim!r} missing or not {kind.__name__}"
            )
    return header


def fetch_jwks_over_http(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """GET the JWKS (used by the running mock; tests inject keys instead)."""
    try:
        response = httpx.get(url, timeout=timeout)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise JwksUnavailable(f"cannot fetch the gateway's JWKS from {url}: {exc}") from exc
    if not isinstance(data, dict):
        raise JwksUnavailable(f"JWKS at {url} is not a JSON object")
    return data


class EventVerifier:
    """Verifies events' JWS; thread-safe; keys cached by ``kid``."""

    def __init__(
        self,
        fetch_jwks: Callable[[], dict[str, Any]] | None,
        *,
        refetch_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch_jwks
        self._keys: dict[str, Key] = {}
        self._lock = threading.Lock()
        self._last_fetch: float | None = None
        self._interval = refetch_interval
        self._clock = clock
        self.fetches = 0

    def set_jwks(self, jwks: dict[str, Any]) -> None:
        """Replace the cached keys with this JWKS (injection for tests)."""
        keys = self._import(jwks)
        with self._lock:
            self._keys = keys

    @staticmethod
    def _import(jwks: dict[str, Any]) -> dict[str, Key]:
        entries = jwks.get("keys")
        if not isinstance(entries, list):
            raise JwksUnavailable("JWKS has no 'keys' list")
        keys: dict[str, Key] = {}
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                continue
            if entry.get("use", "sig") != "sig":
                continue
            try:
                keys[entry["kid"]] = import_key(entry)
            except (JoseError, ValueError, TypeError):
                continue
        return keys

    @property
    def kids(self) -> list[str]:
        with self._lock:
            return sorted(self._keys)

    def _key(self, kid: str) -> Key | None:
        with self._lock:
            key = self._keys.get(kid)
            if key is not None or self._fetch is None:
                return key
            now = self._clock()
            if self._last_fetch is not None and now - self._last_fetch < self._interval:
                raise JwksUnavailable(
                    f"key {kid!r} unknown and the JWKS was fetched just now: retry"
                )
            self._last_fetch = now
        keys = self._import(self._fetch())
        with self._lock:
            self.fetches += 1
            self._keys = keys
            return keys.get(kid)

    def verify(
        self, value: str, body: bytes, message_id: str, message_type: str, replay_count: str = ""
    ) -> dict[str, Any]:
        """Verify ``value`` over ``body`` and its binding to the headers; return the header."""
        header = parse_protected_header(value)
        alg, kid = header["alg"], header["kid"]
        if alg not in ALGORITHMS:
            raise SignatureRefused("alg_not_allowed", f"alg {alg!r} is not one of {ALGORITHMS}")
        key = self._key(kid)
        if key is None:
            raise SignatureRefused("unknown_kid", f"no key {kid!r} in the gateway's JWKS")
        key_type, curve = _KEY_TYPES[alg]
        if key.key_type != key_type or getattr(key, "curve_name", curve) != curve:
            raise SignatureRefused("alg_not_allowed", f"alg {alg!r} does not fit key {kid!r}")
        try:
            jws.deserialize_compact(value, key, algorithms=[alg], registry=_REGISTRY, payload=body)
        except JoseError as exc:
            raise SignatureRefused(
                "bad_signature", f"signature by {kid!r} does not verify"
            ) from exc
        if header["mid"] != message_id:
            raise SignatureRefused("message_id_mismatch", "JWS mid is not X-Message-Id")
        if header["mty"] != message_type:
            raise SignatureRefused("type_mismatch", "JWS mty is not X-Message-Type")
        if header["aud"] != AUDIENCE:
            raise SignatureRefused(
                "recipient_mismatch", f"JWS aud is {header['aud']!r}, expected 'city'"
            )
        signed = header.get("rpl")
        if (signed is not None or replay_count) and str(signed) != replay_count:
            raise SignatureRefused("replay_mismatch", "JWS rpl is not X-Replay-Count")
        return header
