"""Portal push authentication: signature, window, nonce reuse, malformed headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.errors import SignatureInvalid
from gateway.flows.portal_push import PortalPushVerifier, portal_signature
from gateway.testing import LocalStack

SECRET = "demo-portal-callback-secret"
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
BODY = b'{"MaHoSo":"000.00.00.H26-261127-0001"}'


def headers(
    body: bytes = BODY, *, ts: datetime = NOW, nonce: str = "nonce-0001", secret: str = SECRET
) -> dict[str, str]:
    timestamp = str(int(ts.timestamp()))
    return {
        "X-Portal-Timestamp": timestamp,
        "X-Portal-Nonce": nonce,
        "X-Portal-Signature": portal_signature(secret, timestamp, nonce, body),
    }


@pytest.fixture
def verifier(stack: LocalStack) -> PortalPushVerifier:
    return PortalPushVerifier(stack.engine, SECRET, clock=lambda: NOW)


def reason(verifier: PortalPushVerifier, hdrs: dict[str, str], body: bytes = BODY) -> str:
    with pytest.raises(SignatureInvalid) as info:
        verifier.verify(hdrs, body)
    return info.value.reason


def test_honest_push_passes_once(verifier: PortalPushVerifier) -> None:
    assert verifier.verify(headers(), BODY) == "nonce-0001"
    assert reason(verifier, headers()) == "nonce_reused"


def test_tampered_body(verifier: PortalPushVerifier) -> None:
    assert reason(verifier, headers(), BODY.replace(b"0001", b"0002")) == "bad_signature"


def test_wrong_secret(verifier: PortalPushVerifier) -> None:
    assert reason(verifier, headers(secret="guess")) == "bad_signature"


@pytest.mark.parametrize("offset", [301, -301, 3600])
def test_stale_or_future_timestamp(verifier: PortalPushVerifier, offset: int) -> None:
    assert reason(verifier, headers(ts=NOW + timedelta(seconds=offset))) == "stale_timestamp"


def test_inside_window_passes(verifier: PortalPushVerifier) -> None:
    verifier.verify(headers(ts=NOW - timedelta(seconds=299), nonce="nonce-early"), BODY)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda h: h.pop("X-Portal-Nonce"), "missing_header"),
        (lambda h: h.pop("X-Portal-Signature"), "missing_header"),
        (lambda h: h.update({"X-Portal-Timestamp": "yesterday"}), "malformed"),
        (lambda h: h.update({"X-Portal-Nonce": "short"}), "malformed"),
        (lambda h: h.update({"X-Portal-Signature": "ABC"}), "malformed"),
    ],
)
def test_malformed_headers(verifier: PortalPushVerifier, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    hdrs = headers()
    mutate(hdrs)
    assert reason(verifier, hdrs) == expected


def test_forged_push_does_not_burn_the_nonce(verifier: PortalPushVerifier) -> None:
    assert reason(verifier, headers(secret="forger", nonce="nonce-real")) == "bad_signature"
    verifier.verify(headers(nonce="nonce-real"), BODY)


def test_header_names_are_case_insensitive(verifier: PortalPushVerifier) -> None:
    verifier.verify({k.lower(): v for k, v in headers(nonce="nonce-lower").items()}, BODY)


def test_purge_forgets_old_nonces(stack: LocalStack) -> None:
    clock = [NOW]
    verifier = PortalPushVerifier(stack.engine, SECRET, clock=lambda: clock[0])
    verifier.verify(headers(nonce="nonce-old"), BODY)
    clock[0] = NOW + timedelta(seconds=601)
    assert verifier.purge() == 1


def test_check_records_nothing_spend_does_and_release_forgets(
    verifier: PortalPushVerifier,
) -> None:
    assert verifier.check(headers(nonce="nonce-check"), BODY) == "nonce-check"
    assert verifier.check(headers(nonce="nonce-check"), BODY) == "nonce-check"  # not spent
    verifier.spend("nonce-check")
    assert reason(verifier, headers(nonce="nonce-check")) == "nonce_reused"
    with pytest.raises(SignatureInvalid):
        verifier.spend("nonce-check")  # a concurrent request spent it first
    verifier.release("nonce-check")
    assert verifier.check(headers(nonce="nonce-check"), BODY) == "nonce-check"
