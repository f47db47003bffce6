"""The operations facade the admin API calls (scope ``ops``): JSON-ready answers.

What it is for: the API handlers (gateway/api/handlers, wired by the lead) hold one
:class:`OpsService` and call one method per endpoint; they pass the caller name bound
to the API key as ``actor``. Errors are the domain's (:class:`InvalidInput` 400,
:class:`NotFound` 404), which the API maps to problem responses.

Rules:
- Same functions as the CLI, so both behave alike (see :mod:`gateway.ops.replay`).
- An HTTP replay is synchronous and bounded: at most ``max_replay`` messages per call
  (more is refused, asking for a narrower filter or the CLI); a rate applies as in the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gateway.domain.errors import InvalidInput
from gateway.ops.bundle import export_bundle
from gateway.ops.context import OpsContext
from gateway.ops.messages import MessageFilter, message_to_json, show_message
from gateway.ops.replay import ReplayRequest, replay_messages, select_parked
from gateway.ops.search import list_messages
from gateway.store.evidence import verify


class OpsService:
    """One method per admin endpoint (see the module rules)."""

    def __init__(self, ctx: OpsContext, *, max_replay: int = 500) -> None:
        self.ctx = ctx
        self.max_replay = max_replay

    def list_messages(
        self, flt: MessageFilter, *, limit: int = 50, before: tuple[datetime, str] | None = None
    ) -> list[dict[str, Any]]:
        return [
            message_to_json(v)
            for v in list_messages(self.ctx.store, flt, limit=limit, before=before)
        ]

    def show_message(
        self, message_id: str, *, actor: str, reveal: bool = False, reason: str | None = None
    ) -> dict[str, Any]:
        detail = show_message(
            self.ctx.store, self.ctx.audit, message_id, actor=actor, reveal=reveal, reason=reason
        )
        return detail.to_json()

    def replay(
        self,
        *,
        actor: str,
        reason: str,
        message_ids: Sequence[str] = (),
        flt: MessageFilter | None = None,
        dry_run: bool = False,
        rate_per_second: float | None = None,
    ) -> dict[str, Any]:
        """Replay ids or a filter; ``{"results": [...], "counts": {...}}``."""
        request = ReplayRequest(actor, reason, dry_run=dry_run, rate_per_second=rate_per_second)
        ctx = self.ctx
        selection = select_parked(ctx.store, ctx.transport, message_ids=message_ids, flt=flt)
        if len(selection.parked) > self.max_replay:
            raise InvalidInput(
                f"replay: {len(selection.parked)} messages selected, more than {self.max_replay}"
                " per request; narrow the filter or use the CLI",
                field="filter",
            )
        results = replay_messages(
            ctx.store, ctx.audit, ctx.transport, ctx.signer, selection, request
        )
        counts: dict[str, int] = {}
        for result in results:
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
        return {
            "dry_run": dry_run,
            "counts": counts,
            "results": [
                {
                    "message_id": r.message_id,
                    "outcome": r.outcome,
                    "replay_id": r.replay_id,
                    "type": r.type,
                    "detail": r.detail,
                }
                for r in results
            ],
        }

    def export_bundle(
        self,
        *,
        actor: str,
        reason: str,
        dossier_code: str | None = None,
        message_id: str | None = None,
    ) -> bytes:
        """The bundle file's bytes (``application/json``); the export is audited."""
        result = export_bundle(
            self.ctx.engine,
            self.ctx.keystore,
            self.ctx.audit,
            actor=actor,
            reason=reason,
            dossier_code=dossier_code,
            message_id=message_id,
        )
        return result.data

    def verify_log(self) -> dict[str, Any]:
        report = verify(self.ctx.engine, self.ctx.keystore, encryption_key=self.ctx.evidence_key)
        return {
            "ok": report.ok,
            "chains": report.chains,
            "records": report.records,
            "checkpoints": report.checkpoints,
            "first_failure": str(report.first) if report.first else None,
            "problems": [str(p) for p in report.problems],
        }
