"""The port the gateway calls the national portal through: one Protocol, two bindings.

:class:`~adapters.portal.rest.RestPortalClient` (JSON over POST, login sessions) and
:class:`~adapters.portal.soap.SoapPortalClient` (SOAP through NDXP/X-Road) both implement
it; :func:`adapters.portal.build_portal_client` picks one from configuration. Tests and the
composition root may swap in any other implementation (a fake) with the same methods.

Errors (all from :mod:`gateway.domain.errors`): ``IdentifierError`` / ``ContractViolation``
/ ``IllegalTransition`` before anything is sent; ``UpstreamTimeout`` / ``UpstreamUnavailable``
(transient) and ``UpstreamRejected`` / ``UpstreamMalformed`` (permanent) after;
``NotFound`` for a procedure the catalogue lacks.
"""

from __future__ import annotations

from typing import Protocol

from adapters.http import NO_CONTEXT, CallContext
from adapters.portal.records import (
    DossierRecord,
    Procedure,
    ProcedureSummary,
    ProgressRecord,
    ServiceLevel,
)
from adapters.portal.service import SyncOutcome
from gateway.domain.status import DossierStatus


class PortalClient(Protocol):
    def sync_dossier(
        self,
        record: DossierRecord,
        *,
        current_status: DossierStatus | None = None,
        context: CallContext = NO_CONTEXT,
    ) -> SyncOutcome: ...

    def push_progress(
        self,
        record: ProgressRecord,
        *,
        current_status: DossierStatus | None = None,
        context: CallContext = NO_CONTEXT,
    ) -> str: ...

    def find_dossier(
        self, dossier_code: str, *, context: CallContext = NO_CONTEXT
    ) -> DossierRecord | None: ...

    def list_procedures(
        self,
        *,
        field_code: str = "",
        level: ServiceLevel | None = None,
        context: CallContext = NO_CONTEXT,
    ) -> tuple[ProcedureSummary, ...]: ...

    def get_procedure(
        self, procedure_code: str, *, context: CallContext = NO_CONTEXT
    ) -> Procedure: ...
