"""The admin API's message port (``gateway.flows.ports.MessagePort``) on the ops services.

What it is for: ``GET /v1/messages/{id}``, ``GET /v1/admin/messages[/{id}]``,
``POST /v1/admin/messages/{id}/replay`` and ``POST /v1/admin/replays`` answer the
contract's JSON (camelCase, ``contracts/gateway/openapi.yaml``) from here; the lead wires
``OpsMessagePort(ctx)`` into the API services in the composition root.

Rules:
- The actor of a replay is the API key's caller name (``api:<name>``).
- Nothing here shows a body: detail gives its SHA-256 and size; error texts are scrubbed
  of ID-number shapes.
- Timeline entries: every event that sets a status, plus failures and replays (with the
  status the message had then, and the event named in ``detail``).
- A single replay of a message that is not parked, or whose parked copy is refused
  (tampered, or its stored signature does not verify), is a Conflict (409); unknown: 404;
  a broker failure raises the transport's error (transient) and leaves it parked. A replay
  keeps the message id: ``messageId`` and ``replayOf`` name the same message.
- Bulk replay replays at most ``limit`` of the matched parked messages; a dry run
  returns ``messageId: null``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gateway.domain.errors import Conflict, InvalidInput, NotFound
from gateway.messaging.port import TransportError
from gateway.ops.context import OpsContext
from gateway.ops.messages import MessageFilter, scrub
from gateway.ops.replay import (
    ReplayRequest,
    ReplayResult,
    Selection,
    replay_messages,
    replay_one,
    select_parked,
)
from gateway.ops.search import count_messages, list_messages
from gateway.store.messages import MessageView

if TYPE_CHECKING:
    from gateway.flows.ports import CallContext

JsonObject = dict[str, Any]
MAX_DETAIL = 2000
_FILTER_KEYS = {"status", "type", "partner", "dossierCode", "from", "to", "error"}


def _actor(ctx: CallContext) -> str:
    return f"api:{ctx.caller}" if ctx.caller else "api:unknown"


def _timeline(view: MessageView) -> list[JsonObject]:
    entries: list[JsonObject] = []
    status = "accepted"
    for event in view.timeline:
        if event.status:
            status = event.status
        elif not event.detail:
            continue
        entry: JsonObject = {"at": event.at.isoformat(), "status": status}
        if event.status is None or event.detail:
            text = event.event if not event.detail else f"{event.event}: {scrub(event.detail)}"
            entry["detail"] = text[:MAX_DETAIL]
        entries.append(entry)
    return entries


def status_json(view: MessageView) -> JsonObject:
    """The contract's ``MessageStatus`` for a view with its timeline."""
    return {
        "messageId": view.message_id,
        "type": view.type,
        "status": view.status,
        "attempts": view.attempts,
        "dossierCode": view.dossier_code,
        "createdAt": view.created_at.isoformat(),
        "updatedAt": view.updated_at.isoformat(),
        "lastError": scrub(view.last_error)[:MAX_DETAIL] if view.last_error else None,
        "timeline": _timeline(view),
    }


def filter_of(given: Mapping[str, Any]) -> MessageFilter:
    """The contract's ``MessageFilter`` (camelCase, RFC 3339 ``from``/``to``)."""
    unknown = set(given) - _FILTER_KEYS
    if unknown:
        raise InvalidInput(f"filter: unknown keys {sorted(unknown)}", field="filter")
    return MessageFilter.of(
        status=given.get("status"),
        type=given.get("type"),
        partner=given.get("partner"),
        dossier=given.get("dossierCode"),
        since=given.get("from"),
        until=given.get("to"),
        error=given.get("error"),
    )


class OpsMessagePort:
    """``MessagePort`` over an :class:`OpsContext` (see the module rules)."""

    def __init__(self, ops: OpsContext) -> None:
        self.ops = ops

    def _view(self, message_id: str) -> MessageView:
        view = self.ops.store.get(message_id)
        if view is None:
            raise NotFound(f"message {message_id}: not found")
        return view

    def status(self, message_id: str, ctx: CallContext) -> JsonObject:
        return status_json(self._view(message_id))

    def search(
        self, filters: Mapping[str, Any], limit: int, offset: int, ctx: CallContext
    ) -> JsonObject:
        flt = filter_of(filters)
        views = list_messages(self.ops.store, flt, limit=limit, offset=offset)
        items = [status_json(view) for view in views]
        total = count_messages(self.ops.engine, flt)
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    def detail(self, message_id: str, ctx: CallContext) -> JsonObject:
        view = self._view(message_id)
        envelope = self.ops.store.get_envelope(message_id)
        assert envelope is not None
        return status_json(view) | {
            "correlationId": view.correlation_id,
            "recipient": view.recipient,
            "bodySha256": hashlib.sha256(envelope.body).hexdigest(),
            "bodyBytes": len(envelope.body),
            "replayOf": view.replay_of,
            "replays": [],  # a replay keeps the message id: see the timeline's replays
        }

    def replay(self, message_id: str, reason: str, ctx: CallContext) -> JsonObject:
        view = self._view(message_id)
        selection = select_parked(self.ops.store, self.ops.transport, message_ids=[message_id])
        if not selection.parked:
            raise Conflict(f"message {message_id}: not parked (status {view.status})")
        ops = self.ops
        result = replay_one(
            ops.store, ops.audit, ops.transport, ops.signer, selection.parked[0],
            ReplayRequest(_actor(ctx), reason),
        )  # fmt: skip
        if result.outcome in ("refused", "tampered"):
            raise Conflict(f"message {message_id}: replay {result.outcome}: {result.detail}")
        return {"messageId": message_id, "replayOf": message_id, "status": "replayed"}

    def bulk_replay(self, request: Mapping[str, Any], ctx: CallContext) -> JsonObject:
        flt = filter_of(request.get("filter") or {})
        dry_run = bool(request.get("dryRun", False))
        limit = int(request.get("limit", 1000))
        selection = select_parked(self.ops.store, self.ops.transport, flt=flt)
        chosen = Selection(selection.parked[:limit])
        results = self._run(
            chosen, ReplayRequest(_actor(ctx), str(request.get("reason", "")), dry_run=dry_run)
        )
        failed = [r for r in results if r.outcome == "failed"]
        if failed and not any(r.outcome == "replayed" for r in results):
            raise TransportError(
                f"bulk replay: stopped at {failed[0].message_id}: {failed[0].detail}"
            )
        return {
            "dryRun": dry_run,
            "matched": len(selection.parked),
            "replays": [
                {"replayOf": r.message_id, "messageId": None if dry_run else r.replay_id}
                for r in results
                if r.outcome in ("replayed", "would_replay")
            ],
            "refused": [
                {"messageId": r.message_id, "outcome": r.outcome, "detail": r.detail[:500]}
                for r in results
                if r.outcome in ("refused", "tampered")
            ],
        }

    def _run(self, selection: Selection, request: ReplayRequest) -> list[ReplayResult]:
        ops = self.ops
        return replay_messages(ops.store, ops.audit, ops.transport, ops.signer, selection, request)
