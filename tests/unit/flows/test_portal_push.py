"""Portal push authentication: signature, window, nonce reuse, malformed headers.

The nonce is spent by the push's unit of work (``uow.nonces.spend``); :func:`verify` here
is what a push that is accepted does: check, then spend.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.errors import SignatureInvalid
from gateway.flows.portal_push import PortalPushVerifier, portal_signature
from gateway.store.repositories import UnitOfWork
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


Units = Callable[[], UnitOfWork]


class Verifier:
    """The verifier, and the accepted push's spending of its nonce."""

    def __init__(self, verifier: Verifier, uow: Units) -> None:
        self.verifier = verifier
        self.uow = uow

    def check(self, hdrs: dict[str, str], body: bytes = BODY) -> str:
        return self.verifier.check(hdrs, body)

    def spend(self, nonce: str, at: datetime = NOW) -> None:
        with self.uow() as uow:
            uow.nonces.spend(nonce, at)
            uow.commit().result(5)

    def verify(self, hdrs: dict[str, str], body: bytes = BODY) -> str:
        nonce = self.check(hdrs, body)
        self.spend(nonce)
        return nonce

    def purge(self) -> int:
        return self.verifier.purge()


@pytest.fixture
def verifier(stack: LocalStack, uow: Units) -> Verifier:
    return Verifier(PortalPushVerifier(stack.engine, SECRET, clock=lambda: NOW), uow)


def reason(verifier: Verifier, hdrs: dict[str, str], body: bytes = BODY) -> str:
    with pytest.raises(SignatureInvalid) as info:
        verifier.verify(hdrs, body)
    return info.value.reason


def test_honest_push_passes_once(verifier: Verifier) -> None:
    assert verifier.verify(headers(), BODY) == "nonce-0001"
    assert reason(verifier, headers()) == "nonce_reused"


def test_tampered_body(verifier: Verifier) -> None:
    assert reason(verifier, headers(), BODY.replace(b"0001", b"0002")) == "bad_signature"


def test_wrong_secret(verifier: Verifier) -> None:
    assert reason(verifier, headers(secret="guess")) == "bad_signature"


@pytest.mark.parametrize("offset", [301, -301, 3600])
def test_stale_or_future_timestamp(verifier: Verifier, offset: int) -> None:
    assert reason(verifier, headers(ts=NOW + timedelta(seconds=offset))) == "stale_timestamp"


def test_inside_window_passes(verifier: Verifier) -> None:
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
def test_malformed_headers(verifier: Verifier, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    hdrs = headers()
    mutate(hdrs)
    assert reason(verifier, hdrs) == expected


def test_forged_push_does_not_burn_the_nonce(verifier: Verifier) -> None:
    assert reason(verifier, headers(secret="forger", nonce="nonce-real")) == "bad_signature"
    verifier.verify(headers(nonce="nonce-real"), BODY)


def test_header_names_are_case_insensitive(verifier: Verifier) -> None:
    verifier.verify({k.lower(): v for k, v in headers(nonce="nonce-lower").items()}, BODY)


def test_purge_forgets_old_nonces(stack: LocalStack, uow: Units) -> None:
    clock = [NOW]
    verifier = Verifier(PortalPushVerifier(stack.engine, SECRET, clock=lambda: clock[0]), uow)
    verifier.verify(headers(nonce="nonce-old"), BODY)
    clock[0] = NOW + timedelta(seconds=601)
    assert verifier.purge() == 1


def test_check_records_nothing_and_spending_twice_is_refused(verifier: Verifier) -> None:
    assert verifier.check(headers(nonce="nonce-check"), BODY) == "nonce-check"
    assert verifier.check(headers(nonce="nonce-check"), BODY) == "nonce-check"  # not spent
    verifier.spend("nonce-check")
    assert reason(verifier, headers(nonce="nonce-check")) == "nonce_reused"
    with pytest.raises(SignatureInvalid):
        verifier.spend("nonce-check")  # a concurrent request spent it first
