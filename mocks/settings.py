"""Settings of the mock partners: the published demo credentials and where things live.

Rules: the defaults are exactly the demo values of design.md's demo-configuration table
(obviously not secret; no other configuration carries them). Mocks never read the
gateway's configuration: ``tthc-gateway mocks`` builds a :class:`MockSettings` and passes it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MockSettings:
    """Everything a mock needs to know about its counterpart (the gateway)."""

    agency_code: str = "000.00.00.H26"
    # portal REST binding
    portal_username: str = "demo"
    portal_password: str = "demo-portal-password"
    portal_session_ttl_seconds: float = 1800.0
    portal_callback_secret: str = "demo-portal-callback-secret"
    # payment platform
    payment_partner_code: str = "HANOI"
    payment_secret: str = "demo-payment-secret"
    payment_scheme: str = "sha256-suffix"  # or "hmac-sha256"
    # population database (direct-call authentication)
    population_username: str = "demo"
    population_secret: str = "demo-population-secret"
    # where the gateway and the mocks are reachable
    gateway_url: str = "http://127.0.0.1:8080"
    public_url: str = "http://127.0.0.1:8090"
    # demo: pay a transaction automatically this long after INIT (None = never)
    auto_pay_seconds: float | None = None
    # payment confirm callbacks not answered 00/02 are retried after these delays
    callback_retry_seconds: tuple[float, ...] = (5.0, 30.0, 120.0)
    # how long a "timeout" fault holds an HTTP connection before answering 504
    hang_seconds: float = 60.0
    # the time-stamping authority's key and certificates (made there on first use)
    tsa_directory: str = "var/tsa"

    def __post_init__(self) -> None:
        if self.payment_scheme not in ("sha256-suffix", "hmac-sha256"):
            raise ValueError(
                f"MockSettings.payment_scheme must be 'sha256-suffix' or 'hmac-sha256', "
                f"got {self.payment_scheme!r}"
            )
        if self.portal_session_ttl_seconds <= 0:
            raise ValueError("MockSettings.portal_session_ttl_seconds must be positive")
        if any(delay < 0 for delay in self.callback_retry_seconds):
            raise ValueError("MockSettings.callback_retry_seconds must be >= 0")
        if self.auto_pay_seconds is not None and self.auto_pay_seconds < 0:
            raise ValueError("MockSettings.auto_pay_seconds must be >= 0 or None")
