"""Adapter for the National Public Service Portal (DVCQG): REST and SOAP bindings.

Public surface::

    from adapters.portal import PortalConfig, PortalClient, build_portal_client
    client = build_portal_client(config, recorder)   # binding chosen by config.binding
    client.sync_dossier(record, current_status=..., context=CallContext(...))

Modules: ``records`` (the gateway's records), ``translate`` / ``catalogue`` / ``wire``
(pure translation, no I/O), ``answers`` (portal codes and their classification),
``service`` (the operations, binding-independent), ``rest`` and ``soap`` (the bindings),
``port`` (the Protocol), ``config``, ``contract`` (the contract files).
"""

from __future__ import annotations

from adapters.http import PartnerHttp
from adapters.portal.answers import PortalRejected
from adapters.portal.config import PortalConfig, XRoadIdentity
from adapters.portal.port import PortalClient
from adapters.portal.records import (
    Channel,
    DossierRecord,
    Fee,
    OwnerIdentifier,
    Procedure,
    ProcedureSummary,
    ProgressRecord,
    ResultDocument,
    ServiceLevel,
    SubmittedDocument,
    SupplementRequest,
)
from adapters.portal.rest import RestPortalClient
from adapters.portal.service import DossierNotOnPortal, SyncOutcome
from adapters.portal.soap import SoapPortalClient
from gateway.domain.exchange import ExchangeRecorder

__all__ = [
    "Channel",
    "DossierNotOnPortal",
    "DossierRecord",
    "Fee",
    "OwnerIdentifier",
    "PortalClient",
    "PortalConfig",
    "PortalRejected",
    "Procedure",
    "ProcedureSummary",
    "ProgressRecord",
    "RestPortalClient",
    "ResultDocument",
    "ServiceLevel",
    "SoapPortalClient",
    "SubmittedDocument",
    "SupplementRequest",
    "SyncOutcome",
    "XRoadIdentity",
    "build_portal_client",
]


def build_portal_client(
    config: PortalConfig, recorder: ExchangeRecorder, *, http: PartnerHttp | None = None
) -> PortalClient:
    """The client of the configured binding (``config.binding``: rest or soap)."""
    if config.binding == "soap":
        return SoapPortalClient(config, recorder, http=http)
    return RestPortalClient(config, recorder, http=http)
