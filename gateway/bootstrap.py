"""The composition root: the one place that turns settings into wired services.

Rules: nothing else constructs adapters, stores or transports from configuration;
tests and mocks swap implementations by building these pieces differently here, not
by monkeypatching. Each process (``serve``, ``worker``, ``run``) builds one
:class:`Gateway`; its evidence writer has its own chain (one chain per process start).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from adapters.city.client import CityClient, CityConfig
from adapters.http import HttpConfig
from adapters.payment.client import PaymentClient, PaymentConfig
from adapters.population.client import PopulationClient, PopulationConfig
from adapters.portal import build_portal_client
from adapters.portal.config import PortalConfig, XRoadIdentity
from adapters.warehouse.client import WarehouseClient, WarehouseConfig
from gateway.domain.exchange import Exchange
from gateway.envelope import EnvelopeSigner, EnvelopeVerifier
from gateway.flows.acceptor import Acceptor
from gateway.flows.citizens import CitizenService
from gateway.flows.documents import DocumentService
from gateway.flows.dossiers import DossierFlows, DossierStates
from gateway.flows.payment_ledger import SqlPaymentLedger
from gateway.flows.payments import Beneficiary, PaymentFlows
from gateway.flows.portal_push import PortalPushVerifier
from gateway.keys import KeyStore
from gateway.messaging.batch_timeline import BatchTimeline
from gateway.metrics import PartnerCallMetrics, observe_partner_calls
from gateway.settings_model import PartnerSettings, Settings
from gateway.store.anchors import FileWitness, Witness
from gateway.store.db import make_engine, upgrade
from gateway.store.evidence import EvidenceEntry, EvidenceLog
from gateway.store.evidence_format import BodyPolicy
from gateway.store.idempotency import IdempotencyStore
from gateway.store.messages import MessageStore
from gateway.store.timestamps import TimeStamper

if TYPE_CHECKING:
    from adapters.portal.port import PortalClient
    from gateway.api.services import ApiServices
    from gateway.messaging.port import Transport
    from mocks.settings import MockSettings

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"


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


class EvidenceRecorder:
    """Adapters' :class:`ExchangeRecorder` on this process's evidence chain.

    Personal bodies are stored AES-GCM encrypted when a key is configured, otherwise
    as digests only; other bodies as digests (their hash proves what crossed).
    """

    def __init__(self, evidence: EvidenceLog, *, can_encrypt: bool) -> None:
        self._evidence = evidence
        self._can_encrypt = can_encrypt

    def record(self, exchange: Exchange) -> None:
        policy: BodyPolicy = "encrypted" if exchange.personal and self._can_encrypt else "digest"
        self._evidence.append(
            EvidenceEntry(
                direction=exchange.direction,
                partner=exchange.partner,
                body=exchange.body,
                message_id=exchange.message_id or None,
                correlation_id=exchange.correlation_id or None,
                dossier_code=exchange.dossier_code or None,
                body_policy=policy,
            )
        )


@dataclass
class Gateway:
    """One process's wired services. Partner clients are built on first use."""

    settings: Settings
    engine: Engine
    keystore: KeyStore
    evidence: EvidenceLog
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)

    @cached_property
    def partner_calls(self) -> PartnerCallMetrics:
        return PartnerCallMetrics(self.metrics)

    @cached_property
    def signer(self) -> EnvelopeSigner:
        return EnvelopeSigner(self.keystore)

    @cached_property
    def verifier(self) -> EnvelopeVerifier:
        keys = self.settings.keys
        return EnvelopeVerifier(
            self.keystore,
            allowed_algorithms=("ES256", "EdDSA"),
            max_age=timedelta(seconds=keys.max_message_age_seconds),
            clock_skew=timedelta(seconds=keys.clock_skew_seconds),
        )

    @cached_property
    def store(self) -> MessageStore:
        # the message store whose timeline writes are pipelined (a constant number of
        # round trips per batch: the worker records several events per message)
        return BatchTimeline(self.engine)

    @cached_property
    def recorder(self) -> EvidenceRecorder:
        return EvidenceRecorder(self.evidence, can_encrypt=self.evidence_key is not None)

    @property
    def evidence_key(self) -> bytes | None:
        raw = self.settings.evidence.encryption_key.get_secret_value()
        return base64.b64decode(raw) if raw else None

    @cached_property
    def acceptor(self) -> Acceptor:
        return Acceptor(self.signer, self.store)

    # -- partners ---------------------------------------------------------------------

    @cached_property
    def portal(self) -> PortalClient:
        portal = self.settings.adapters.portal
        tls = portal.tls
        x = portal.xroad
        config = PortalConfig(
            url=portal.url,
            agency_code=self.settings.agency.code,
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
        return observe_partner_calls(build_portal_client(config, self.recorder), self.partner_calls)

    @cached_property
    def payment_client(self) -> PaymentClient:
        payment = self.settings.adapters.payment
        config = PaymentConfig(
            http=http_config("payment", payment),
            partner_code=payment.partner_code,
            secret=payment.secret.get_secret_value(),
            scheme=payment.scheme,
        )
        return observe_partner_calls(PaymentClient(config, self.recorder), self.partner_calls)

    @cached_property
    def population(self) -> PopulationClient:
        population = self.settings.adapters.population
        lgsp = population.auth == "lgsp"
        config = PopulationConfig(
            http=http_config("population", population),
            wsdl_path=str(CONTRACTS / "population" / "dancu.wsdl"),
            auth_scheme=population.auth,
            username=population.client_id if lgsp else population.username,
            secret=(population.client_secret if lgsp else population.secret).get_secret_value(),
            api_key=population.api_key.get_secret_value(),
            xroad_client=self._xroad_client(),
            token_url=population.token_url,
        )
        return observe_partner_calls(PopulationClient(config, self.recorder), self.partner_calls)

    def _xroad_client(self) -> str:
        x = self.settings.adapters.portal.xroad
        return f"{x.instance}/{x.member_class}/{x.member_code}/{x.subsystem_code}"

    @cached_property
    def warehouse(self) -> WarehouseClient:
        warehouse = self.settings.adapters.warehouse
        config = WarehouseConfig(
            http=http_config("warehouse", warehouse), max_file_bytes=warehouse.max_file_bytes
        )
        return observe_partner_calls(WarehouseClient(config, self.recorder), self.partner_calls)

    @cached_property
    def city(self) -> CityClient:
        city = CityClient(
            CityConfig(http=http_config("city", self.settings.adapters.city)), self.recorder
        )
        return observe_partner_calls(city, self.partner_calls)

    # -- flows ------------------------------------------------------------------------

    @cached_property
    def dossiers(self) -> DossierFlows:
        return DossierFlows(self.acceptor, DossierStates(self.engine))

    @cached_property
    def payments(self) -> PaymentFlows:
        payment = self.settings.adapters.payment
        return PaymentFlows(
            self.payment_client,
            SqlPaymentLedger(self.engine),
            self.acceptor,
            partner_code=payment.partner_code,
            secret=payment.secret.get_secret_value(),
            scheme=payment.scheme,
            beneficiary=Beneficiary(
                payment.beneficiary_account, payment.beneficiary_bank, payment.beneficiary_name
            ),
            reconcile_window=(
                timedelta(seconds=payment.reconcile_min_age_seconds),
                timedelta(seconds=payment.reconcile_max_age_seconds),
            ),
        )

    @cached_property
    def citizens(self) -> CitizenService:
        population = self.settings.adapters.population
        return CitizenService(
            self.population,
            service_code=population.service_code,
            officer_code=population.officer_code,
            agency_code=self.settings.agency.code,
        )

    @cached_property
    def documents(self) -> DocumentService:
        return DocumentService(self.warehouse)

    @cached_property
    def idempotency(self) -> IdempotencyStore:
        """The API's ``Idempotency-Key`` records, kept ``api.idempotency_ttl_hours``."""
        hours = self.settings.api.idempotency_ttl_hours
        return IdempotencyStore(self.engine, ttl=timedelta(hours=hours))

    @cached_property
    def portal_push(self) -> PortalPushVerifier | None:
        """The portal pushes' verifier (``callbacks.portal_window_seconds``); None when no
        ``callbacks.portal_secret`` is configured."""
        callbacks = self.settings.callbacks
        secret = callbacks.portal_secret.get_secret_value()
        if not secret:
            return None
        window = timedelta(seconds=callbacks.portal_window_seconds)
        return PortalPushVerifier(self.engine, secret, window=window)

    @cached_property
    def transport(self) -> Transport:
        from gateway.messaging.factory import make_transport

        transport = make_transport(self.settings.broker, self.engine)
        transport.declare()
        return transport

    def api_services(self) -> ApiServices:
        from gateway.wiring import api_services

        return api_services(self)

    def close(self) -> None:
        self.evidence.close()
        if "transport" in self.__dict__:
            self.transport.close()
        self.engine.dispose()


def database_url(settings: Settings) -> str:
    return settings.database.effective_url(settings.var_dir)


def evidence_witness(settings: Settings) -> Witness:
    """Where checkpoint hashes are anchored (the file witness; see gateway.store.anchors)."""
    return FileWitness(settings.evidence.effective_anchor_dir(settings.var_dir))


def evidence_stamper(settings: Settings) -> TimeStamper | None:
    """The RFC 3161 time-stamping authority, when ``evidence.tsa_url`` is set."""
    evidence = settings.evidence
    if not evidence.tsa_url:
        return None
    from gateway.evidence_tsa import HttpTimeStamper

    return HttpTimeStamper(
        evidence.tsa_url,
        evidence.effective_tsa_certificate(settings.var_dir),
        timeout_seconds=evidence.tsa_timeout_seconds,
    )


def build(settings: Settings, *, migrate: bool = True) -> Gateway:
    """Wire one process: database (migrated unless told not to), keys, evidence chain."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    url = database_url(settings)
    if migrate:
        upgrade(url)
    engine = make_engine(url, pool_size=settings.database.pool_size)
    keys = settings.keys
    keystore = KeyStore.ensure(keys.directory, keys.algorithm, timedelta(days=keys.retention_days))
    raw_key = settings.evidence.encryption_key.get_secret_value()
    evidence = EvidenceLog(
        engine,
        keystore=keystore,
        encryption_key=base64.b64decode(raw_key) if raw_key else None,
        checkpoint_every=settings.evidence.checkpoint_every_records,
        checkpoint_interval=timedelta(seconds=settings.evidence.checkpoint_every_seconds),
        witness=evidence_witness(settings),
        stamper=evidence_stamper(settings),
        stamp_retry=timedelta(seconds=settings.evidence.tsa_retry_seconds),
        seal_after=timedelta(seconds=settings.evidence.seal_after_seconds),
    )
    return Gateway(settings=settings, engine=engine, keystore=keystore, evidence=evidence)
