"""The composition root's leaf: settings to partner configuration, and the readiness probes.

What it is for: :mod:`gateway.bootstrap` calls these pure helpers so that it stays the
one place that *builds* things; this module only maps the validated settings onto the
adapters' configuration values and assembles ``/readyz``'s probes from the pieces it is
handed.

Rules:
- A leaf: it imports neither :mod:`gateway.bootstrap` nor :mod:`gateway.process` (not
  even for types), and constructs no client, session, engine or transport; each
  function's result depends only on its arguments.
- Each partner's connection settings (TLS, timeouts, answer cap, circuit) come from its
  ``adapters.<partner>`` section, the portal's X-Road identity from
  ``adapters.portal.xroad`` (the population database's ``X-Road-Client`` too).
- The mocks are given the same credentials as the gateway (:func:`mock_settings`), the
  demo ones where a section leaves them empty.
- Readiness: the database answers ``SELECT 1``; the broker (or embedded queue) answers
  its ``ping`` (a passive declare; no message is touched); a signing key is active; each
  partner's circuit state is reported (an open circuit is shown, not failed: one partner
  down must not take every instance out of rotation). A partner's breaker is asked for
  at the probe, so a partner no request has used yet is built then, not at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text

from adapters.city.client import CityConfig
from adapters.http import CircuitBreaker, HttpConfig
from adapters.payment.client import PaymentConfig
from adapters.population.client import PopulationConfig
from adapters.portal.config import PortalConfig, XRoadIdentity
from adapters.warehouse.client import WarehouseConfig
from gateway.api.services import ReadinessCheck
from gateway.keys import KeyStore
from gateway.messaging.port import Transport
from gateway.settings_model import PartnerSettings, Settings

if TYPE_CHECKING:
    from mocks.settings import MockSettings

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"

# -- partner configuration --------------------------------------------------------------


def http_config(
    partner: str, partner_settings: PartnerSettings, url: str | None = None
) -> HttpConfig:
    tls = partner_settings.tls
    return HttpConfig(
        partner=partner,
        base_url=url if url is not None else partner_settings.url,
        connect_timeout=partner_settings.timeout_connect_seconds,
        read_timeout=partner_settings.timeout_read_seconds,
        max_answer_bytes=partner_settings.max_answer_bytes,
        ca_bundle=str(tls.ca_bundle or ""),
        client_cert=str(tls.client_cert or ""),
        client_key=str(tls.client_key or ""),
        allow_plain_http=tls.allow_plain_http,
        failure_threshold=partner_settings.circuit_failure_threshold,
        reset_after=partner_settings.circuit_reset_seconds,
    )


def portal_config(settings: Settings) -> PortalConfig:
    portal = settings.adapters.portal
    tls = portal.tls
    x = portal.xroad
    return PortalConfig(
        url=portal.url,
        agency_code=settings.agency.code,
        binding=portal.binding,
        username=portal.username,
        password=portal.password.get_secret_value(),
        auth_endpoint=portal.auth_endpoint,
        integration_endpoint=portal.integration_endpoint,
        share_endpoint=portal.share_endpoint,
        soap_path=portal.soap_path,
        catalogue_cache_seconds=portal.catalogue_cache_seconds,
        xroad=XRoadIdentity(
            instance=x.instance,
            member_class=x.member_class,
            member_code=x.member_code,
            subsystem_code=x.subsystem_code,
            service_member_class=x.service_member_class,
            service_member_code=x.service_member_code,
            service_subsystem_code=x.service_subsystem_code,
            service_version=x.service_version,
            user_id=x.user_id,
        ),
        connect_timeout=portal.timeout_connect_seconds,
        read_timeout=portal.timeout_read_seconds,
        max_answer_bytes=portal.max_answer_bytes,
        ca_bundle=str(tls.ca_bundle or ""),
        client_cert=str(tls.client_cert or ""),
        client_key=str(tls.client_key or ""),
        allow_plain_http=tls.allow_plain_http,
        failure_threshold=portal.circuit_failure_threshold,
        reset_after=portal.circuit_reset_seconds,
    )


def payment_config(settings: Settings) -> PaymentConfig:
    payment = settings.adapters.payment
    return PaymentConfig(
        http=http_config("payment", payment),
        partner_code=payment.partner_code,
        secret=payment.secret.get_secret_value(),
        scheme=payment.scheme,
    )


def population_config(settings: Settings) -> PopulationConfig:
    population = settings.adapters.population
    lgsp = population.auth == "lgsp"
    x = settings.adapters.portal.xroad
    return PopulationConfig(
        http=http_config("population", population),
        wsdl_path=str(CONTRACTS / "population" / "dancu.wsdl"),
        auth_scheme=population.auth,
        username=population.client_id if lgsp else population.username,
        secret=(population.client_secret if lgsp else population.secret).get_secret_value(),
        api_key=population.api_key.get_secret_value(),
        xroad_client=f"{x.instance}/{x.member_class}/{x.member_code}/{x.subsystem_code}",
        token_url=population.token_url,
    )


def warehouse_config(settings: Settings) -> WarehouseConfig:
    warehouse = settings.adapters.warehouse
    return WarehouseConfig(
        http=http_config("warehouse", warehouse), max_file_bytes=warehouse.max_file_bytes
    )


def city_config(settings: Settings) -> CityConfig:
    return CityConfig(http=http_config("city", settings.adapters.city))


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
        tsa_directory=str(settings.evidence.effective_tsa_certificate(settings.var_dir).parent),
    )


# -- readiness --------------------------------------------------------------------------


def readiness_checks(
    engine: Engine,
    transport: Transport,
    keystore: KeyStore,
    breakers: Mapping[str, Callable[[], CircuitBreaker]],
    *,
    broker_name: str,
) -> list[ReadinessCheck]:
    """``/readyz``'s probes; ``breakers`` maps each partner to a getter of its breaker."""

    def database() -> str:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return "ok"

    def broker() -> str:
        transport.ping()
        return broker_name

    def keys() -> str:
        return keystore.active().kid

    checks = [
        ReadinessCheck("database", database, timeout=2.0),
        ReadinessCheck("broker", broker, timeout=3.0),
        ReadinessCheck("signing_keys", keys, timeout=1.0),
    ]
    for partner, breaker in breakers.items():

        def circuit(breaker: Callable[[], CircuitBreaker] = breaker) -> str:
            return f"circuit {breaker().snapshot().state}"

        checks.append(ReadinessCheck(f"partner_{partner}", circuit, timeout=1.0))
    return checks
