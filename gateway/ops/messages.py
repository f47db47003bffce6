"""Finding and inspecting messages: what failed, why, and where it stands now.

What it is for: ``tthc-gateway messages list|show`` and the admin API's
``GET /v1/admin/messages[/{id}]`` call these functions.

Rules:
- Filters are parsed here once (:meth:`MessageFilter.from_pairs` for ``KEY=VALUE``
  text); a bad key or value is an :class:`InvalidInput` naming it.
- Times: ISO 8601 (a naive time is UTC) or an age such as ``30m``, ``2h``, ``1d``
  (meaning that long before now).
- A shown body has personal data masked (:func:`gateway.logging.redact_mapping`)
  unless ``reveal``; a reveal needs a reason and is written to the audit trail
  BEFORE the body is returned (no unrecorded reveal). Error texts and header values
  are scrubbed of ID-number shapes unless revealed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.domain.errors import InvalidInput, NotFound
from gateway.logging import redact_mapping, scrub_text
from gateway.store.audit import AuditTrail
from gateway.store.messages import FAILURE_EVENTS, MessageStore, MessageView, TimelineEvent

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_AGE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
FILTER_KEYS = ("status", "type", "partner", "dossier", "since", "until", "error")


def scrub(text: str) -> str:
    """:func:`gateway.logging.scrub_text`, but message ids (UUIDs) are kept whole: their
    last group can look like a 12-digit citizen id."""
    parts: list[str] = []
    position = 0
    for match in _UUID.finditer(text):
        parts.append(scrub_text(text[position : match.start()]))
        parts.append(match.group(0))
        position = match.end()
    parts.append(scrub_text(text[position:]))
    return "".join(parts)


def parse_time(raw: str, *, name: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (naive = UTC) or an age (``45m``) before ``now``."""
    text = raw.strip()
    match = _AGE.match(text)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{name}: {raw!r} is neither an ISO 8601 time nor an age like 30m, 2h, 1d",
            field=name,
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class MessageFilter:
    """Which messages: every field that is set must match."""

    status: str | None = None
    type: str | None = None
    partner: str | None = None
    dossier_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    error_contains: str | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since >= self.until:
            raise InvalidInput("filter: since must be before until", field="since")

    @classmethod
    def from_pairs(cls, pairs: Iterable[str], *, now: datetime | None = None) -> MessageFilter:
        """Parse ``KEY=VALUE`` items (keys: status, type, partner, dossier, since,
        until, error)."""
        values: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            key = key.strip().lower()
            if not sep or not value.strip():
                raise InvalidInput(f"filter {pair!r}: expected KEY=VALUE", field="filter")
            if key not in FILTER_KEYS:
                raise InvalidInput(
                    f"filter {pair!r}: unknown key {key!r} (one of {', '.join(FILTER_KEYS)})",
                    field="filter",
                )
            values[key] = value.strip()
        return cls.of(now=now, **values)

    @classmethod
    def of(
        cls,
        *,
        status: str | None = None,
        type: str | None = None,
        partner: str | None = None,
        dossier: str | None = None,
        since: str | None = None,
        until: str | None = None,
        error: str | None = None,
        now: datetime | None = None,
    ) -> MessageFilter:
        """From text options (the CLI's and the API's query parameters)."""
        return cls(
            status=status or None,
            type=type or None,
            partner=partner or None,
            dossier_code=dossier or None,
            since=parse_time(since, name="since", now=now) if since else None,
            until=parse_time(until, name="until", now=now) if until else None,
            error_contains=error or None,
        )

    @property
    def empty(self) -> bool:
        return self == MessageFilter()

    def matches(self, view: MessageView, *, error: str = "") -> bool:
        """True when ``view`` passes every set field (``error`` adds a parked copy's text)."""
        checks = (
            (self.status, view.status),
            (self.type, view.type),
            (self.partner, view.partner),
            (self.dossier_code, view.dossier_code),
        )
        if any(wanted is not None and wanted != actual for wanted, actual in checks):
            return False
        if self.since is not None and view.created_at < self.since:
            return False
        if self.until is not None and view.created_at >= self.until:
            return False
        if self.error_contains is not None:
            text = f"{view.last_error or ''}\n{error}"
            if self.error_contains.lower() not in text.lower():
                return False
        return True

    def describe(self) -> dict[str, str]:
        """The set fields as text (for audit entries and dry-run output)."""
        out: dict[str, str] = {}
        for key, value in asdict(self).items():
            if value is not None:
                out[key] = value.isoformat() if isinstance(value, datetime) else str(value)
        return out


@dataclass(frozen=True)
class MessageDetail:
    """One message as an operator sees it: the view, the errors, the (masked) body."""

    view: MessageView
    body: Any
    body_revealed: bool
    errors: tuple[TimelineEvent, ...] = ()
    audit_id: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``--json`` and the admin API)."""
        view = self.view

        def event(e: TimelineEvent) -> dict[str, Any]:
            return {
                "at": e.at.isoformat(),
                "event": e.event,
                "status": e.status,
                "attempt": e.attempt,
                "detail": e.detail,
            }

        return {
            "message_id": view.message_id,
            "type": view.type,
            "recipient": view.recipient,
            "partner": view.partner,
            "correlation_id": view.correlation_id,
            "dossier_code": view.dossier_code,
            "status": view.status,
            "attempts": view.attempts,
            "created_at": view.created_at.isoformat(),
            "updated_at": view.updated_at.isoformat(),
            "last_error": view.last_error,
            "replay_of": view.replay_of,
            "headers": self.headers,
            "timeline": [event(e) for e in view.timeline],
            "errors": [event(e) for e in self.errors],
            "body": self.body,
            "body_revealed": self.body_revealed,
        }


def message_to_json(view: MessageView) -> dict[str, Any]:
    """One listed message as a JSON-ready dict (one JSON line of ``messages list``)."""
    return {
        "message_id": view.message_id,
        "type": view.type,
        "partner": view.partner,
        "dossier_code": view.dossier_code,
        "status": view.status,
        "attempts": view.attempts,
        "created_at": view.created_at.isoformat(),
        "updated_at": view.updated_at.isoformat(),
        "last_error": scrub(view.last_error) if view.last_error else None,
        "replay_of": view.replay_of,
    }


def masked_body(body: bytes) -> Any:
    """The body with personal data masked: JSON walked by ``redact_mapping``, else text
    scrubbed of ID-number shapes."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return scrub(body.decode("utf-8", "replace"))
    return redact_mapping({"body": parsed})["body"]


def clear_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body.decode("utf-8", "replace")


def show_message(
    store: MessageStore,
    audit: AuditTrail,
    message_id: str,
    *,
    actor: str,
    reveal: bool = False,
    reason: str | None = None,
) -> MessageDetail:
    """The message with its timeline, errors, headers and body (masked unless ``reveal``).

    A reveal needs ``reason`` and is recorded in the audit trail (action ``reveal``)
    before the body is returned.
    """
    if reveal and not (reason and reason.strip()):
        raise InvalidInput("reveal: a --reason is required to reveal personal data", field="reason")
    view = store.get(message_id)
    envelope = store.get_envelope(message_id) if view is not None else None
    if view is None or envelope is None:
        raise NotFound(f"message {message_id}: not found")
    audit_id: int | None = None
    if reveal:
        assert reason is not None
        entry = audit.record(actor, "reveal", f"message:{message_id}", reason, {"type": view.type})
        audit_id = entry.id
    errors = tuple(e for e in view.timeline if e.event in FAILURE_EVENTS and e.detail)
    if not reveal:
        view = _scrubbed(view)
        errors = tuple(replace(e, detail=scrub(e.detail or "")) for e in errors)
    headers = {k: (v if reveal else scrub(v)) for k, v in sorted(view.headers.items())}
    body = clear_body(envelope.body) if reveal else masked_body(envelope.body)
    return MessageDetail(view, body, reveal, errors, audit_id, headers)


def _scrubbed(view: MessageView) -> MessageView:
    timeline = tuple(replace(e, detail=scrub(e.detail)) if e.detail else e for e in view.timeline)
    last_error = scrub(view.last_error) if view.last_error else None
    return replace(view, timeline=timeline, last_error=last_error)
