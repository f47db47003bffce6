"""Signed envelopes: a detached compact JWS over the exact body bytes.

What it is for: every asynchronous message is signed when it is accepted and verified
by the worker that consumes it, so nothing can be forged or altered in the broker or
the store, and a message cannot be replayed to another queue or recipient.

The form (RFC 7515, standard base64url payload, detached per appendix F):
- signing input ``b64url(protected header) "." b64url(body)``; the envelope carries
  ``b64url(header) ".." b64url(signature)`` (the payload segment left empty);
- protected header ``{"alg", "kid", "iat", "mid", "mty", "aud"}``: the algorithm, the
  key id, the issue time (epoch seconds), the message id, the message type and the
  intended recipient; a replay adds ``"rpl"`` (a positive integer: the how-many-th replay
  of that message id), so the count a receiver sees is signed, and the message id stays
  the original one (the receiver deduplicates it).

Verification rules, each refusal a :class:`~gateway.domain.errors.SignatureInvalid`
with its own stable ``reason``, checked in this order:

    malformed            not ``header..signature``, header not base64url JSON, a claim
                         missing or of the wrong type, signature not base64url
    alg_not_allowed      ``alg`` not in the verifier's allowed list, or not the key's
    unknown_kid          no key with this id
    kid_retired          the key was retired longer ago than the retention
    bad_signature        the signature does not match header + body
    message_id_mismatch  ``mid`` is not the envelope's message id
    type_mismatch        ``mty`` is not the type expected on this queue (or the envelope's)
    recipient_mismatch   ``aud`` is not the recipient this consumer serves
    iat_expired          issued longer ago than ``max_age``
    iat_in_future        issued later than now + ``clock_skew``

``verify(..., check_age=False, check_retention=False)`` skips the last two checks and the
key's retention (a replay verifies a stored message that may be months old); the signature,
key, id, type and recipient are always checked.

Claims are only trusted after the signature verifies. The detail names the message id
and the key id, never the body.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from gateway.domain.errors import SignatureInvalid
from gateway.domain.messages import Envelope
from gateway.keys import ALGORITHMS, KeyLookup, KeyStore, jws_registry

__all__ = [
    "EnvelopeSigner",
    "EnvelopeVerifier",
    "KeyLookup",
    "decode_protected_header",
    "replay_count",
]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _is_int(value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("must be an integer")


def _is_str(value: object) -> None:
    if not isinstance(value, str):
        raise ValueError("must be a string")


_ENVELOPE_HEADERS = {
    "iat": HeaderParameter("Issued at (epoch seconds)", _is_int, True),
    "mid": HeaderParameter("Message id", _is_str, True),
    "mty": HeaderParameter("Message type", _is_str, True),
    "aud": HeaderParameter("Intended recipient", _is_str, True),
    "kid": HeaderParameter("Key ID", _is_str, True),
    "rpl": HeaderParameter("Replay count (absent on the first delivery)", _is_int, False),
}


def _registry(algorithms: Collection[str]) -> JWSRegistry:
    return jws_registry(algorithms, _ENVELOPE_HEADERS)


def _type_name(message_type: str | Enum) -> str:
    return str(message_type.value) if isinstance(message_type, Enum) else str(message_type)


class EnvelopeSigner:
    """Signs bodies into envelopes with the key store's active key."""

    def __init__(self, keystore: KeyStore, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._keystore = keystore
        self._clock = clock
        self._registries = {alg: _registry([alg]) for alg in ALGORITHMS}

    @property
    def keystore(self) -> KeyStore:
        return self._keystore

    def sign_body(
        self,
        *,
        message_id: str,
        type: str | Enum,
        recipient: str,
        body: bytes,
        iat: int,
        replay: int = 0,
    ) -> str:
        """The detached compact JWS (``header..signature``) for these bytes and claims."""
        if replay < 0:
            raise ValueError("replay count must not be negative")
        key = self._keystore.active()
        header: dict[str, Any] = {
            "alg": key.algorithm,
            "kid": key.kid,
            "iat": iat,
            "mid": message_id,
            "mty": _type_name(type),
            "aud": recipient,
        }
        if replay:
            header["rpl"] = replay
        compact = jws.serialize_compact(
            header, body, key.key, registry=self._registries[key.algorithm]
        )
        head, _, signature = compact.split(".")
        return f"{head}..{signature}"

    def sign(
        self,
        *,
        message_id: str,
        type: str | Enum,
        recipient: str,
        body: bytes,
        correlation_id: str,
        headers: Mapping[str, str] | None = None,
        replay: int = 0,
    ) -> Envelope:
        """A new signed envelope; ``timestamp`` and ``iat`` are the clock's now.

        ``replay`` > 0 signs a replay of ``message_id`` (claim ``rpl``)."""
        if not isinstance(body, bytes | bytearray):
            raise TypeError("body must be bytes (the exact bytes to deliver)")
        now = self._clock()
        type_name = _type_name(type)
        signature = self.sign_body(
            message_id=message_id,
            type=type_name,
            recipient=recipient,
            body=bytes(body),
            iat=int(now.timestamp()),
            replay=replay,
        )
        return Envelope(
            message_id=message_id,
            type=type_name,
            recipient=recipient,
            correlation_id=correlation_id,
            timestamp=now,
            body=bytes(body),
            jws=signature,
            headers=dict(headers or {}),
        )


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def replay_count(jws_value: str) -> int:
    """The signed replay count of a VERIFIED envelope's JWS (0 on a first delivery)."""
    count = decode_protected_header(jws_value).get("rpl", 0)
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def decode_protected_header(jws_value: str) -> dict[str, Any]:
    """The protected header of a detached JWS, unverified. SignatureInvalid('malformed')."""
    parts = jws_value.split(".") if isinstance(jws_value, str) else []
    if len(parts) != 3 or parts[1] != "" or not parts[0] or not parts[2]:
        raise SignatureInvalid("malformed", "x-jws is not a detached compact JWS (header..sig)")
    try:
        header = json.loads(_b64decode(parts[0]))
    except (ValueError, binascii.Error) as error:
        raise SignatureInvalid("malformed", "JWS header is not base64url JSON") from error
    if not isinstance(header, dict):
        raise SignatureInvalid("malformed", "JWS header is not a JSON object")
    return header


class EnvelopeVerifier:
    """Verifies envelopes; see the module docstring for the rules and reason codes."""

    def __init__(
        self,
        key_lookup: KeyLookup,
        *,
        allowed_algorithms: Collection[str] = ("ES256", "EdDSA"),
        max_age: timedelta = timedelta(hours=2),
        clock_skew: timedelta = timedelta(seconds=60),
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        unknown = set(allowed_algorithms) - set(ALGORITHMS)
        if unknown:
            raise ValueError(f"allowed_algorithms: unsupported {sorted(unknown)}")
        self._keys = key_lookup
        self._allowed = frozenset(allowed_algorithms)
        self._max_age = max_age.total_seconds()
        self._skew = clock_skew.total_seconds()
        self._clock = clock
        self._registries = {alg: _registry([alg]) for alg in self._allowed}

    def verify(
        self,
        envelope: Envelope,
        *,
        expected_type: str | Enum | None = None,
        expected_recipient: str | None = None,
        check_age: bool = True,
        check_retention: bool = True,
    ) -> dict[str, Any]:
        """Return the verified protected header, or raise SignatureInvalid(reason, detail).

        ``expected_type``/``expected_recipient`` are what the consuming queue serves;
        when None, the envelope's own ``type``/``recipient`` are required instead.
        """
        mid = envelope.message_id
        header = decode_protected_header(envelope.jws)
        for claim, kind in (("alg", str), ("kid", str), ("mid", str), ("mty", str), ("aud", str)):
            if not isinstance(header.get(claim), kind):
                raise SignatureInvalid("malformed", f"message {mid}: claim {claim!r} missing")
        iat = header.get("iat")
        if not isinstance(iat, int) or isinstance(iat, bool):
            raise SignatureInvalid("malformed", f"message {mid}: claim 'iat' missing")
        alg, kid = header["alg"], header["kid"]
        if alg not in self._allowed:
            raise SignatureInvalid("alg_not_allowed", f"message {mid}: algorithm {alg!r}")
        info = self._keys.lookup(kid)
        if info is None:
            raise SignatureInvalid("unknown_kid", f"message {mid}: unknown key id {kid!r}")
        now = self._clock()
        if check_retention and info.expired(now):
            raise SignatureInvalid(
                "kid_retired", f"message {mid}: key {kid} retired beyond retention"
            )
        if info.algorithm != alg:
            raise SignatureInvalid(
                "alg_not_allowed", f"message {mid}: key {kid} signs {info.algorithm}, not {alg}"
            )
        registry = self._registries[alg]
        try:
            obj = jws.extract_compact(envelope.jws.encode("ascii"), envelope.body, registry)
            valid = jws.validate_compact(obj, info.key, registry=registry)
        except (JoseError, ValueError, UnicodeError) as error:
            raise SignatureInvalid("malformed", f"message {mid}: {error}") from error
        if not valid:
            raise SignatureInvalid("bad_signature", f"message {mid}: signature does not match")
        if header["mid"] != mid:
            raise SignatureInvalid(
                "message_id_mismatch", f"message {mid}: signed for message {header['mid']!r}"
            )
        wanted_type = _type_name(expected_type) if expected_type is not None else envelope.type
        if header["mty"] != wanted_type or envelope.type != wanted_type:
            raise SignatureInvalid(
                "type_mismatch", f"message {mid}: signed as {header['mty']!r}, not {wanted_type!r}"
            )
        wanted_recipient = (
            expected_recipient if expected_recipient is not None else envelope.recipient
        )
        if header["aud"] != wanted_recipient or envelope.recipient != wanted_recipient:
            raise SignatureInvalid(
                "recipient_mismatch",
                f"message {mid}: signed for {header['aud']!r}, not {wanted_recipient!r}",
            )
        replay = header.get("rpl", 0)
        if not isinstance(replay, int) or isinstance(replay, bool) or replay < 0:
            raise SignatureInvalid("malformed", f"message {mid}: claim 'rpl' is not a count")
        if not check_age:
            return header
        age = now.timestamp() - iat
        if age > self._max_age:
            raise SignatureInvalid("iat_expired", f"message {mid}: issued {int(age)} s ago")
        if -age > self._skew:
            raise SignatureInvalid("iat_in_future", f"message {mid}: issued {int(-age)} s ahead")
        return header
