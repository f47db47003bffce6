"""Wiring the HTTP API to a :class:`~gateway.bootstrap.Gateway` (part of the composition root).

Rules:
- Every port of :class:`~gateway.api.services.ApiServices` is filled from the gateway's
  flows; nothing is faked. The admin and message ports share the ops tools' code
  (``gateway.ops``), so the CLI and the API act the same way.
- Readiness: the database answers ``SELECT 1``; the broker (or embedded queue) answers
  its ``ping`` (a passive declare; no message is touched);
  a signing key is active; each partner's circuit state is reported (an open circuit
  is shown, not failed: one partner down must not take every instance out of rotation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from gateway.api.services import ApiKey, ApiServices, ReadinessCheck
from gateway.flows.api_ports import (
    CallbackService,
    DossierService,
    PaymentService,
    ProcedureService,
)
from gateway.metrics import register_store_metrics
from gateway.ops.context import OpsContext
from gateway.ops.message_port import OpsMessagePort

if TYPE_CHECKING:
    from gateway.bootstrap import Gateway


def _breaker_of(client: Any) -> Any:
    breaker = getattr(client, "breaker", None)
    if breaker is None:
        breaker = client.http.breaker
    return breaker


def readiness_checks(gateway: Gateway) -> list[ReadinessCheck]:
    def database() -> str:
        with gateway.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return "ok"

    def broker() -> str:
        gateway.transport.ping()
        return "embedded queue" if gateway.settings.broker.embedded else "rabbitmq"

    def keys() -> str:
        return gateway.keystore.active().kid

    checks = [
        ReadinessCheck("database", database, timeout=2.0),
        ReadinessCheck("broker", broker, timeout=3.0),
        ReadinessCheck("signing_keys", keys, timeout=1.0),
    ]
    for name in ("portal", "payment_client", "population", "warehouse", "city"):
        partner = name.removesuffix("_client")

        def circuit(name: str = name) -> str:
            snapshot = _breaker_of(getattr(gateway, name)).snapshot()
            return f"circuit {snapshot.state}"

        checks.append(ReadinessCheck(f"partner_{partner}", circuit, timeout=1.0))
    return checks


def api_services(gateway: Gateway) -> ApiServices:
    settings = gateway.settings
    ops = OpsContext.build(
        gateway.engine, gateway.transport, gateway.keystore, evidence_key=gateway.evidence_key
    )
    register_store_metrics(  # once per process (one API)
        gateway.metrics, gateway.engine, cache_seconds=settings.http.metrics_cache_seconds
    )
    return ApiServices(
        api_keys=[ApiKey.from_config(entry) for entry in settings.api.keys],
        max_body_bytes=settings.http.max_body_bytes,
        metrics_registry=gateway.metrics,
        readiness_checks=readiness_checks(gateway),
        jwks_provider=gateway.keystore.public_jwks,
        portal_push=gateway.portal_push,
        payment_callback_allowlist=tuple(settings.adapters.payment.callback_allowlist),
        dossiers=DossierService(gateway.dossiers, gateway.portal),
        procedures=ProcedureService(gateway.portal),
        citizens=gateway.citizens,
        payments=PaymentService(gateway.payments),
        documents=gateway.documents,
        messages=OpsMessagePort(ops),
        callbacks=CallbackService(gateway.dossiers, gateway.payments),
        idempotency=gateway.idempotency,
        root=gateway,
    )
