"""The composition root: the one place that turns settings into wired services.

Rules: nothing else constructs adapters, stores or transports from configuration;
tests and mocks swap implementations by building these pieces differently here, not
by monkeypatching. Every function takes the validated :class:`Settings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.settings_model import Settings

if TYPE_CHECKING:
    from mocks.settings import MockSettings


def mock_settings(settings: Settings) -> MockSettings:
    """The mocks' view of the demo wiring: the same credentials the gateway is given."""
    from mocks.settings import MockSettings

    adapters = settings.adapters
    return MockSettings(
        agency_code=settings.agency.code,
        portal_username=adapters.portal.username or "demo",
        portal_password=adapters.portal.password.get_secret_value() or "demo-portal-password",
        portal_callback_secret=settings.callbacks.portal_secret.get_secret_value()
        or "demo-portal-callback-secret",
        payment_partner_code=adapters.payment.partner_code or "HANOI",
        payment_secret=adapters.payment.secret.get_secret_value() or "demo-payment-secret",
        payment_scheme=adapters.payment.scheme,
        population_username=adapters.population.username or "demo",
        population_secret=adapters.population.secret.get_secret_value() or "demo-population-secret",
        gateway_url=settings.http.public_url,
        public_url=f"http://{settings.mocks.host}:{settings.mocks.port}",
        auto_pay_seconds=settings.mocks.auto_pay_seconds,
    )
