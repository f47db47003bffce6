"""The portal operations, written once over a binding's ``_call`` (REST or SOAP).

:class:`PortalService` implements :class:`~adapters.portal.port.PortalClient`; the REST and
SOAP clients subclass it and provide :meth:`PortalService._call`, which sends one service
call and returns the :class:`PortalAnswer` (``error_code`` checked for shape only).

Rules of the operations:
- Translation first: a record the portal's contract would refuse, a malformed identifier,
  or an illegal status change from the status the caller states is refused before any I/O.
- ``sync_dossier`` looks the dossier up with TraCuuHoSo, refuses an illegal change from the
  portal's status, then sends DongBoHoSoMC with ``isUpdating`` "True" when the portal has it.
  If the portal answers 06 (exists) / 05 (unknown) because another writer got there
  between lookup and sync, it flips ``isUpdating`` and sends once more.
- A sync the portal's copy has moved past (the portal at 4 from a later progress step, the
  record at 2: a redelivered or delayed sync) is *overtaken*, not illegal: its fields are
  sent as an update at the portal's status, which is never moved backwards. A portal status
  that does not lie ahead of the record's along legal steps is still refused.
- ``push_progress`` checks the same way; a dossier not on the portal yet is *transient*
  (its sync may still be in another queue): ``DossierNotOnPortal`` (UpstreamUnavailable).
- Catalogue answers (LayDanhSachTTHC, LayThuTuc) are cached ``catalogue_cache_seconds``.
- Every call carries a :class:`CallContext` whose ``dossier_code`` is the dossier's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, Literal

from adapters.http import NO_CONTEXT, CallContext
from adapters.portal import answers, catalogue, translate
from adapters.portal.answers import PortalAnswer, PortalRejected
from adapters.portal.config import PortalConfig
from adapters.portal.records import (
    DossierRecord,
    ProcedureSummary,
    ProgressRecord,
    ServiceLevel,
)
from adapters.portal.records import Procedure as ProcedureRecord
from gateway.domain.errors import (
    GatewayError,
    NotFound,
    UpstreamMalformed,
    UpstreamUnavailable,
)
from gateway.domain.status import DossierStatus, check_transition, is_legal, reachable

Endpoint = Literal["integration", "sharing"]
PARTNER = "portal"


class DossierNotOnPortal(UpstreamUnavailable):
    """Progress for a dossier the portal does not hold yet: retry after its sync."""


@dataclass(frozen=True)
class SyncOutcome:
    """What a DongBoHoSoMC did: created or updated, from which portal status."""

    dossier_code: str
    updated: bool  # isUpdating was "True"
    previous_status: DossierStatus | None  # the portal's status before, None if new
    message: str  # the portal's own message
    overtaken: bool = False  # the portal was past the record's status: kept, fields updated


class PortalService(ABC):
    """The operations, binding-independent; subclasses implement :meth:`_call`."""

    def __init__(self, config: PortalConfig) -> None:
        config.check()
        self.config = config
        self._catalogue: catalogue.TtlCache[tuple[ProcedureSummary, ...]] = catalogue.TtlCache(
            config.catalogue_cache_seconds
        )
        self._procedures: catalogue.TtlCache[ProcedureRecord] = catalogue.TtlCache(
            config.catalogue_cache_seconds
        )

    # -- the binding's one method ---------------------------------------------------------
    @abstractmethod
    def _call(
        self,
        service: str,
        params: dict[str, Any],
        *,
        endpoint: Endpoint,
        context: CallContext,
        personal: bool,
        idempotent: bool,
    ) -> PortalAnswer:
        """Send one service call over the binding; answer the portal's reply."""

    def _checked(self, service: str, params: dict[str, Any], **kwargs: Any) -> PortalAnswer:
        answer = self._call(service, params, **kwargs)
        if not answer.ok:
            raise answers.refusal(answer, service)
        return answer

    # -- integration ----------------------------------------------------------------------
    def find_dossier(
        self, dossier_code: str, *, context: CallContext = NO_CONTEXT
    ) -> DossierRecord | None:
        """TraCuuHoSo: the portal's copy of the dossier, or None when it has none."""
        translate.parse_dossier_code(dossier_code, "mahoso")
        context = _with_dossier(context, dossier_code)
        answer = self._call(
            "TraCuuHoSo",
            {"mahoso": dossier_code},
            endpoint="integration",
            context=context,
            personal=True,
            idempotent=True,
        )
        if answer.error_code == answers.NOT_FOUND:
            return None
        if not answer.ok:
            raise answers.refusal(answer, "TraCuuHoSo")
        result = answer.result
        if result is None or result == []:
            return None
        item = result[0] if isinstance(result, list) else result
        if isinstance(result, list) and len(result) > 1:
            raise UpstreamMalformed(PARTNER, "TraCuuHoSo: answer holds more than one dossier")
        try:
            found = translate.dossier_from_portal(item, "result[0]")
        except GatewayError as exc:
            raise UpstreamMalformed(PARTNER, f"TraCuuHoSo: answer {exc.detail}") from None
        if found.dossier_code != dossier_code:
            raise UpstreamMalformed(PARTNER, "TraCuuHoSo: answer is about another dossier")
        return found

    def sync_dossier(
        self,
        record: DossierRecord,
        *,
        current_status: DossierStatus | None = None,
        context: CallContext = NO_CONTEXT,
    ) -> SyncOutcome:
        """DongBoHoSoMC for one dossier (see the module rules)."""
        item = translate.dossier_to_portal(record)
        code = record.dossier_code
        if current_status is not None:
            check_transition(current_status, record.status, dossier_code=code)
        context = _with_dossier(context, code)
        on_portal = self.find_dossier(code, context=context)
        previous = on_portal.status if on_portal is not None else None
        overtaken = (
            previous is not None
            and not is_legal(previous, record.status)
            and reachable(record.status, previous)
        )
        if overtaken and previous is not None:
            item = translate.dossier_to_portal(replace(record, status=previous))
        else:
            translate.check_dossier_transition(previous, record.status, code)
        updating = on_portal is not None
        for attempt in (1, 2):
            answer = self._call(
                "DongBoHoSoMC",
                {"isUpdating": "True" if updating else "False", "data": [item]},
                endpoint="integration",
                context=context,
                personal=True,
                idempotent=False,
            )
            raced = answer.error_code == (answers.NOT_FOUND if updating else answers.ALREADY_EXISTS)
            if raced and attempt == 1:
                updating = not updating
                continue
            if not answer.ok:
                raise answers.refusal(answer, "DongBoHoSoMC")
            return SyncOutcome(code, updating, previous, answer.message, overtaken)
        raise AssertionError("unreachable")  # pragma: no cover

    def push_progress(
        self,
        record: ProgressRecord,
        *,
        current_status: DossierStatus | None = None,
        context: CallContext = NO_CONTEXT,
    ) -> str:
        """CapNhatTienDoHoSoMC for one step; returns the portal's message."""
        item = translate.progress_to_portal(record)
        code = record.dossier_code
        if current_status is not None:
            check_transition(current_status, record.status, dossier_code=code)
        context = _with_dossier(context, code)
        on_portal = self.find_dossier(code, context=context)
        if on_portal is None:
            raise DossierNotOnPortal(
                PARTNER, f"CapNhatTienDoHoSoMC: dossier {code} is not on the portal yet"
            )
        check_transition(on_portal.status, record.status, dossier_code=code)
        answer = self._call(
            "CapNhatTienDoHoSoMC",
            {"data": [item]},
            endpoint="integration",
            context=context,
            personal=False,
            idempotent=False,
        )
        if answer.error_code == answers.NOT_FOUND:
            raise DossierNotOnPortal(
                PARTNER, f"CapNhatTienDoHoSoMC: dossier {code} is not on the portal yet"
            )
        if not answer.ok:
            raise answers.refusal(answer, "CapNhatTienDoHoSoMC")
        return answer.message

    # -- sharing (catalogue) --------------------------------------------------------------
    def list_procedures(
        self,
        *,
        field_code: str = "",
        level: ServiceLevel | None = None,
        context: CallContext = NO_CONTEXT,
    ) -> tuple[ProcedureSummary, ...]:
        """LayDanhSachTTHC (optionally filtered), cached with the configured TTL."""
        params: dict[str, Any] = {}
        if field_code:
            params["maLinhVuc"] = field_code
        if level is not None:
            params["mucDo"] = ServiceLevel(level).value

        def fetch() -> tuple[ProcedureSummary, ...]:
            answer = self._checked(
                "LayDanhSachTTHC",
                params,
                endpoint="sharing",
                context=context,
                personal=False,
                idempotent=True,
            )
            return catalogue.summaries_from_portal(answer.result)

        return self._catalogue.get((field_code, level), fetch)

    def get_procedure(
        self, procedure_code: str, *, context: CallContext = NO_CONTEXT
    ) -> ProcedureRecord:
        """LayThuTuc for the national form of ``procedure_code``; NotFound when unknown."""
        national = translate.parse_procedure_code(procedure_code, "maTTHC").to_national().value

        def fetch() -> ProcedureRecord:
            try:
                answer = self._checked(
                    "LayThuTuc",
                    {"maTTHC": national},
                    endpoint="sharing",
                    context=context,
                    personal=False,
                    idempotent=True,
                )
            except PortalRejected as exc:
                if exc.portal_code == answers.PROCEDURE_NOT_FOUND:
                    raise NotFound(
                        f"procedure {national} is not in the portal's catalogue", field="maTTHC"
                    ) from None
                raise
            found = catalogue.procedure_from_portal(answer.result)
            if found.code != national:
                raise UpstreamMalformed(PARTNER, "LayThuTuc: answer is about another procedure")
            return found

        return self._procedures.get(national, fetch)


def _with_dossier(context: CallContext, dossier_code: str) -> CallContext:
    return context if context.dossier_code else replace(context, dossier_code=dossier_code)
