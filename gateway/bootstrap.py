"""The composition root: the one place that turns settings into wired services.

What it builds, per process role: ``serve`` (:func:`build_serve`: the API),
``worker`` (:func:`build_worker`: relay, consumer, heartbeat, periodic jobs), ``run``
(:func:`build_run`: all of them, and the mocks when ``mocks.enabled``), each as a
:class:`~gateway.process.Role` that :func:`gateway.process.run_role` runs; and the ops
CLI's :class:`~gateway.ops.context.OpsContext` (:func:`build_ops`).

Rules:
- Nothing else constructs adapters, stores, transports or flows from configuration;
  tests and mocks swap implementations by building these pieces differently here, not
  by monkeypatching. :mod:`gateway.wiring` (settings to partner configuration, the
  readiness probes) is a leaf this module calls; nothing imports back from it.
- Each process builds one :class:`Gateway`; its evidence writer has its own chain (one
  chain per process start).
- Every partner's HTTP is built here with its circuit breaker (per process) and the
  process's call metrics as its observer, and given to the partner's client. The flows
  get the clients typed by the partners' ports (``adapters/<partner>/port.py``).
- Partner clients are built on first use, so a role that never calls a partner never
  connects to it.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property, partial
from typing import cast

import uvicorn
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from adapters.city.client import CityClient
from adapters.http import CircuitBreaker, HttpConfig, PartnerHttp
from adapters.payment.client import PaymentClient
from adapters.population.client import PopulationClient
from adapters.portal import build_portal_client
from adapters.portal.port import PortalClient
from adapters.warehouse.client import WarehouseClient
from gateway.api.services import ApiKey, ApiServices
from gateway.envelope import EnvelopeSigner, EnvelopeVerifier
from gateway.flows.acceptor import acceptance_evidence
from gateway.flows.api_ports import (
    PaymentService,
    ProcedureService,
)
from gateway.flows.citizens import CitizenService
from gateway.flows.delivery import MessageHandler, city_handlers, portal_handlers
from gateway.flows.documents import DocumentService
from gateway.flows.dossiers import DossierFlows
from gateway.flows.idempotency import IdempotencyKeys
from gateway.flows.payments import Beneficiary, PaymentFlows
from gateway.flows.portal_push import PortalPushVerifier
from gateway.flows.ports import CallbackFlows
from gateway.keys import KeyStore
from gateway.messaging.embedded import EmbeddedTransport
from gateway.messaging.factory import make_transport
from gateway.messaging.liveness import Liveness
from gateway.messaging.port import ALL_TYPES, Transport
from gateway.messaging.redrive import redrive_job
from gateway.messaging.relay import OutboxRelay
from gateway.messaging.worker import Worker
from gateway.metrics import PartnerCallMetrics, RedriveMetrics, register_store_metrics
from gateway.ops.context import NoTransport, OpsContext
from gateway.ops.message_port import OpsMessagePort
from gateway.ops.reconcile import reconcile_job
from gateway.process import ApiServer, Job, MetricsListener, Role, WorkerParts, uvicorn_server
from gateway.settings_model import Settings
from gateway.store.anchors import FileWitness, Witness
from gateway.store.batch_timeline import BatchTimeline
from gateway.store.db import make_engine, upgrade
from gateway.store.evidence import EvidenceLog
from gateway.store.evidence_format import BodyPolicy
from gateway.store.evidence_recorder import EvidenceRecorder
from gateway.store.idempotency import IdempotencyRecords, KeyPolicy
from gateway.store.ledger import Ledger
from gateway.store.messages import MessageStore
from gateway.store.outage import describe, is_store_unavailable, ping
from gateway.store.payments import SqlPaymentLedger
from gateway.store.repositories import UnitOfWork
from gateway.store.timestamps import TimeStamper
from gateway.store.unit_of_work import units_of_work
from gateway.store.workers import WorkerRegistry, new_worker_id
from gateway.wiring import (
    city_config,
    payment_config,
    population_config,
    portal_config,
    readiness_checks,
    warehouse_config,
)
from gateway.wiring import mock_settings as mock_settings  # re-exported: the `mocks` command

_stdlib_log = logging.getLogger(__name__)


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
    def redrive_metrics(self) -> RedriveMetrics:
        return RedriveMetrics(self.metrics)

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
        return evidence_key(self.settings)

    @cached_property
    def units_of_work(self) -> Callable[[], UnitOfWork]:
        """The flows' units of work (group commit on SQLite, a pool on PostgreSQL);
        ``Idempotency-Key`` records are kept ``api.idempotency_ttl_hours``."""
        hours = self.settings.api.idempotency_ttl_hours
        return units_of_work(self.engine, KeyPolicy(ttl=timedelta(hours=hours)))

    # -- partners ---------------------------------------------------------------------

    def _partner_http(self, config: HttpConfig) -> PartnerHttp:
        """One partner's HTTP: its session, its circuit breaker (this process's) and the
        process's partner-call metrics as its observer."""
        breaker = CircuitBreaker(
            config.partner,
            failure_threshold=config.failure_threshold,
            reset_after=config.reset_after,
        )
        return PartnerHttp(config, self.recorder, breaker=breaker, observer=self.partner_calls)

    @cached_property
    def portal_http(self) -> PartnerHttp:
        return self._partner_http(portal_config(self.settings).http_config())

    @cached_property
    def payment_http(self) -> PartnerHttp:
        return self._partner_http(payment_config(self.settings).http)

    @cached_property
    def population_http(self) -> PartnerHttp:
        return self._partner_http(population_config(self.settings).http)

    @cached_property
    def warehouse_http(self) -> PartnerHttp:
        return self._partner_http(warehouse_config(self.settings).http)

    @cached_property
    def city_http(self) -> PartnerHttp:
        return self._partner_http(city_config(self.settings).http)

    @cached_property
    def portal(self) -> PortalClient:
        config = portal_config(self.settings)
        config.check()  # a bad section is refused by its key before its HTTP is built
        return build_portal_client(config, self.recorder, http=self.portal_http)

    @cached_property
    def payment_client(self) -> PaymentClient:
        config = payment_config(self.settings)
        return PaymentClient(config, self.recorder, http=self.payment_http)

    @cached_property
    def population(self) -> PopulationClient:
        config = population_config(self.settings)
        return PopulationClient(config, self.recorder, http=self.population_http)

    @cached_property
    def warehouse(self) -> WarehouseClient:
        config = warehouse_config(self.settings)
        return WarehouseClient(config, self.recorder, http=self.warehouse_http)

    @cached_property
    def city(self) -> CityClient:
        return CityClient(city_config(self.settings), self.recorder, http=self.city_http)

    def breakers(self) -> dict[str, Callable[[], CircuitBreaker]]:
        """Each partner's breaker, built with its HTTP when first asked for."""
        return {
            "portal": lambda: self.portal_http.breaker,
            "payment": lambda: self.payment_http.breaker,
            "population": lambda: self.population_http.breaker,
            "warehouse": lambda: self.warehouse_http.breaker,
            "city": lambda: self.city_http.breaker,
        }

    # -- flows ------------------------------------------------------------------------

    @cached_property
    def dossiers(self) -> DossierFlows:
        return DossierFlows(self.units_of_work, self.signer, self.portal)

    @cached_property
    def payments(self) -> PaymentFlows:
        payment = self.settings.adapters.payment
        return PaymentFlows(
            self.payment_client,
            SqlPaymentLedger(self.engine),
            self.units_of_work,
            self.signer,
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
    def idempotency(self) -> IdempotencyRecords:
        """The API's ``Idempotency-Key`` records (purged hourly; written by the flows'
        units of work)."""
        return IdempotencyRecords(self.engine)

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
        transport = make_transport(self.settings.broker, self.engine)
        transport.declare()
        return transport

    @property
    def body_policy(self) -> BodyPolicy:
        """How the evidence log keeps personal message bodies: encrypted when a key is set."""
        return "encrypted" if self.evidence_key else "digest"

    # -- the API (serve, run) -------------------------------------------------------------

    def api_services(self) -> ApiServices:
        """What the HTTP API's handlers use.

        Every port is filled from this gateway's flows; nothing is faked. The admin and
        message ports share the ops tools' code (``gateway.ops``), so the CLI and the API
        act the same way."""
        settings = self.settings
        ops = OpsContext.build(
            self.engine, self.transport, self.keystore, evidence_key=self.evidence_key
        )
        register_store_metrics(  # once per process (one API)
            self.metrics, self.engine, cache_seconds=settings.http.metrics_cache_seconds
        )
        return ApiServices(
            api_keys=[ApiKey.from_config(entry) for entry in settings.api.keys],
            max_body_bytes=settings.http.max_body_bytes,
            metrics_registry=self.metrics,
            readiness_checks=readiness_checks(
                self.engine,
                self.transport,
                self.keystore,
                self.breakers(),
                broker_name="embedded queue" if settings.broker.embedded else "rabbitmq",
            ),
            jwks_provider=self.keystore.public_jwks,
            portal_push=self.portal_push,
            payment_callback_allowlist=tuple(settings.adapters.payment.callback_allowlist),
            dossiers=self.dossiers,
            procedures=ProcedureService(self.portal),
            citizens=self.citizens,
            payments=PaymentService(self.payments),
            documents=self.documents,
            messages=OpsMessagePort(ops),
            callbacks=CallbackFlows(self.units_of_work, self.signer, self.payments),
            idempotency=IdempotencyKeys(self.units_of_work),
        )

    def api_server(self) -> ApiServer:
        """The API on ``http.host``:``http.port``: Swagger UI only when ``http.swagger_ui``;
        ``/metrics`` on the internal listener, and on the API's port only behind the ops
        scope when ``http.metrics_on_api`` is ``ops``."""
        from gateway.api.app import create_app  # connexion: only for the roles that serve

        http = self.settings.http
        app = create_app(
            self.api_services(),
            validate_responses=http.validate_responses,
            swagger_ui=http.swagger_ui,
            metrics_access=http.metrics_on_api,
        )
        config = uvicorn.Config(
            app, host=http.host, port=http.port, log_config=None, access_log=False, lifespan="on"
        )
        return ApiServer(config, self.metrics, http.metrics_host, http.metrics_port)

    # -- the worker (worker, run) ---------------------------------------------------------

    def message_handlers(self) -> dict[str, MessageHandler]:
        """The handler of each message type this worker consumes (``worker.message_types``,
        default all) whose partner is configured."""
        handlers: dict[str, MessageHandler] = {}
        adapters = self.settings.adapters
        if adapters.portal.url:
            handlers.update(portal_handlers(self.portal))
        if adapters.city.url:
            handlers.update(city_handlers(self.city))
        wanted = self.settings.worker.message_types or ALL_TYPES
        return {t: h for t, h in handlers.items() if t in wanted}

    def periodic_jobs(self) -> list[Job]:
        settings = self.settings
        jobs = [
            Job("evidence-checkpoint", 5.0, self.evidence.maybe_checkpoint),
            Job("idempotency-purge", 3600.0, self.idempotency.purge_expired),
            Job("worker-registry-purge", 3600.0, WorkerRegistry(self.engine).purge),
            Job(
                "parked-reconcile",
                60.0,
                partial(reconcile_job, self.store, self.transport, self.verifier),
            ),
        ]
        if not settings.broker.embedded:  # a RabbitMQ tier can strand what it holds
            broker = settings.broker
            jobs.append(
                Job(
                    "redrive",
                    broker.redrive_interval_seconds,
                    partial(
                        redrive_job,
                        self.store,
                        self.transport,
                        grace=timedelta(seconds=broker.redrive_grace_seconds),
                        on_redriven=self.redrive_metrics.observe,
                    ),
                )
            )
        if self.portal_push is not None:
            jobs.append(Job("portal-nonce-purge", 600.0, self.portal_push.purge))
        if settings.adapters.payment.url:
            jobs.append(
                Job(
                    "payment-reconciliation",
                    settings.adapters.payment.reconcile_interval_seconds,
                    self.payments.reconcile,
                )
            )
        return jobs

    def worker_parts(self) -> WorkerParts:
        """The outbox relay, one consumer (a new worker id, its ledger and lease), the
        heartbeat that renews its leases, and the periodic jobs."""
        work = self.settings.worker
        transport = self.transport
        transport.declare()
        relay = OutboxRelay(
            self.store,
            transport,
            work.relay_batch_size,
            on_published=acceptance_evidence(self.evidence.append_many, self.body_policy),
        )
        lease = timedelta(seconds=work.lease_seconds)
        dead_after = timedelta(seconds=work.dead_after_seconds)
        worker_id = new_worker_id()
        worker = Worker(
            transport,
            self.verifier,
            Ledger(self.engine, worker_id=worker_id, dead_after=dead_after),
            self.store,
            self.evidence,
            self.message_handlers(),
            work.consumer_name,
            body_policy=self.body_policy,
            lease=lease,
            max_batch=work.max_batch,
            completion=work.completion,
            concurrency=work.concurrency,
        )
        liveness = Liveness(
            WorkerRegistry(self.engine, dead_after=dead_after),
            interval=work.heartbeat_seconds,
            lease=lease,
            worker_id=worker_id,
            renewers=[worker.renew_leases],
        )
        if isinstance(transport, EmbeddedTransport):  # its rows name the worker too
            transport.consumer_id = worker_id
            transport.dead_after = dead_after
            transport.lease = lease
            liveness.renewers.append(transport.renew)
        return WorkerParts(
            relay=relay,
            worker=worker,
            liveness=liveness,
            jobs=self.periodic_jobs(),
            store_probe=partial(ping, self.engine),
            worker_id=worker_id,
        )

    # -- the mocks (run with mocks.enabled) -----------------------------------------------

    def mocks_server(self) -> uvicorn.Server:
        """Every mock partner on ``mocks.host``:``mocks.port``, wired with this gateway's
        credentials (:func:`mock_settings`)."""
        from mocks.server import build_app  # the mocks: only for the roles that run them

        mocks = self.settings.mocks
        return uvicorn_server(build_app(mock_settings(self.settings)), mocks.host, mocks.port)

    # -- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        self.evidence.close()
        if "transport" in self.__dict__:
            self.transport.close()
        self.engine.dispose()

    def close_despite_store_outage(self) -> None:
        """:meth:`close`, also when the store is away: the final evidence checkpoint is
        then left undone (logged) and the rest is closed."""
        try:
            self.close()
        except Exception as error:
            if not is_store_unavailable(error):
                raise
            _stdlib_log.warning(
                "closing: the store is unavailable (%s); the final evidence checkpoint is "
                "not written (records since the last one are protected by the chain only, "
                "as after a crash)",
                describe(error),
            )
            if "transport" in self.__dict__:
                self.transport.close()
            self.engine.dispose()


def database_url(settings: Settings) -> str:
    return settings.database.effective_url(settings.var_dir)


def evidence_key(settings: Settings) -> bytes | None:
    """The evidence log's AES-256-GCM key (``evidence.encryption_key``), or None."""
    raw = settings.evidence.encryption_key.get_secret_value()
    return base64.b64decode(raw) if raw else None


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
    evidence = EvidenceLog(
        engine,
        keystore=keystore,
        encryption_key=evidence_key(settings),
        checkpoint_every=settings.evidence.checkpoint_every_records,
        checkpoint_interval=timedelta(seconds=settings.evidence.checkpoint_every_seconds),
        witness=evidence_witness(settings),
        stamper=evidence_stamper(settings),
        stamp_retry=timedelta(seconds=settings.evidence.tsa_retry_seconds),
        seal_after=timedelta(seconds=settings.evidence.seal_after_seconds),
    )
    return Gateway(settings=settings, engine=engine, keystore=keystore, evidence=evidence)


# -- the process roles and the ops CLI ------------------------------------------------------


@contextmanager
def _closed_on_failure(gateway: Gateway) -> Iterator[None]:
    try:
        yield
    except BaseException:
        gateway.close_despite_store_outage()
        raise


def build_serve(settings: Settings) -> Role:
    """``serve``: the HTTP API only (any number of these behind a load balancer)."""
    gateway = build(settings)
    with _closed_on_failure(gateway):
        return Role("serve", gateway.close_despite_store_outage, api=gateway.api_server())


def build_worker(settings: Settings) -> Role:
    """``worker``: the relay, the consumer, the heartbeat and the periodic jobs, with the
    worker's own ``/metrics`` listener unless ``worker.metrics_port`` is 0."""
    gateway = build(settings)
    work = settings.worker
    with _closed_on_failure(gateway):
        metrics = (
            MetricsListener(gateway.metrics, work.metrics_host, work.metrics_port)
            if work.metrics_port
            else None
        )
        return Role(
            "worker",
            gateway.close_despite_store_outage,
            workers=gateway.worker_parts(),
            metrics=metrics,
        )


def build_run(settings: Settings) -> Role:
    """``run``: API, relay, consumer, jobs in one process, and the mocks when
    ``mocks.enabled`` (the demo configuration)."""
    gateway = build(settings)
    with _closed_on_failure(gateway):
        return Role(
            "run",
            gateway.close_despite_store_outage,
            api=gateway.api_server(),
            workers=gateway.worker_parts(),
            mocks=gateway.mocks_server() if settings.mocks.enabled else None,
        )


def build_ops(settings: Settings, *, with_transport: bool = True) -> OpsContext:
    """The ops CLI's context. No schema is created (the database must be at the newest
    revision: ``tthc-gateway db upgrade``) and no key is made; the transport's topology is
    declared (idempotent: a replay must not be refused as unroutable).
    ``with_transport=False`` connects no broker (read-only commands: ``messages``, ``log``)."""
    engine = make_engine(database_url(settings), pool_size=settings.database.pool_size)
    keys = settings.keys
    keystore = KeyStore(keys.directory, keys.algorithm, timedelta(days=keys.retention_days))
    transport: Transport
    if with_transport:
        transport = make_transport(settings.broker, engine)
        transport.declare()
    else:
        transport = cast(Transport, NoTransport())
    return OpsContext.build(
        engine, transport, keystore, evidence_key=evidence_key(settings), owns_engine=True
    )
