"""Safe replay of parked messages, one by one or by filter.

What it is for: after the cause of a failure is fixed (a partner back up, a contract
corrected), an operator sends the parked messages again: ``tthc-gateway replay`` and
``POST /v1/admin/replays`` call :func:`replay_messages`.

Rules. What is replayed is the **stored** message, never the parked copy's bytes:
- The store is the source: the stored body, type, recipient, correlation id and dossier code.
  A message the store does not hold cannot be replayed (``refused``). The stored signature is
  verified first (the gateway's own keys; its ``iat`` age and the key's retention are not
  checked: a parked message may outlive both); a stored envelope that does not verify is
  ``refused``. A parked copy whose body, type or recipient differs from the stored message is
  ``tampered``: refused, audited (``replay_refused``), counted in metrics, and left parked as
  evidence. So a forged copy published straight into the broker (e.g. parked as
  ``unknown_kid``) is never signed by the gateway.
- The replay keeps the **original message id** towards the receiver (the city deduplicates a
  confirmation it already has; the portal upserts by MaHoSo); it is signed afresh with the
  active key and carries its replay count in the signed protected header (``rpl``) and in
  the ``replay_count`` header, plus ``replayed_by``, ``replayed_at``, ``replay_reason``.

The order is what makes it safe; each step is durable before the next starts:
1. the audit entry (action ``replay``: who, when, why, the count);
2. the original's timeline gets ``replayed`` (status ``replayed``: it leaves the parked
   listings and ``tthc_messages_parked``);
3. the re-signed copy is published with confirm;
4. only then is the parked copy removed (:meth:`Transport.take_parked`).
A broker failure at step 3 puts ``parked`` back on the timeline at once and audits
``replay_failed``. A crash or Ctrl-C between any two steps leaves the message still parked
(nothing lost; if it died after step 2, the worker's reconcile job marks it ``parked`` again
within a minute); running the replay again repeats the steps, and the worker's ledger
(keyed on the message id) processes the message once.
- Dry run: selects, checks and reports, writes nothing. A reason is required otherwise.
- Rate limit: at most ``rate`` replays per second (paced, not bursty).
- A transport or database failure stops the batch: the rest stay parked, untouched.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from gateway.domain.errors import GatewayError, InvalidInput, SignatureInvalid
from gateway.domain.messages import Envelope, MessageStatus
from gateway.envelope import EnvelopeSigner, EnvelopeVerifier
from gateway.logging import get_logger
from gateway.messaging.port import ParkedMessage, Transport
from gateway.ops.messages import MessageFilter, scrub
from gateway.store.audit import AuditTrail
from gateway.store.messages import EventKind, MessageStore

log = get_logger(__name__)

REPLAY_HEADERS = ("replay_of", "replay_count", "replayed_by", "replayed_at", "replay_reason")
MAX_REASON_HEADER = 200
Outcome = Literal["replayed", "would_replay", "not_parked", "refused", "tampered", "failed"]


@dataclass(frozen=True)
class ReplayRequest:
    """Who replays, why, and how."""

    actor: str
    reason: str
    dry_run: bool = False
    rate_per_second: float | None = None

    def __post_init__(self) -> None:
        if not self.actor.strip():
            raise InvalidInput("replay: the actor is required", field="actor")
        if not self.dry_run and not self.reason.strip():
            raise InvalidInput("replay: a --reason is required", field="reason")
        if self.rate_per_second is not None and self.rate_per_second <= 0:
            raise InvalidInput("replay: rate must be positive (messages per second)", field="rate")


@dataclass(frozen=True)
class ReplayResult:
    """What happened to one parked message."""

    message_id: str
    outcome: Outcome
    replay_id: str | None = None
    type: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Selection:
    """Parked copies chosen for a replay, and the asked-for ids that are not parked."""

    parked: tuple[ParkedMessage, ...]
    missing: tuple[str, ...] = ()


def select_parked(
    store: MessageStore,
    transport: Transport,
    *,
    message_ids: Sequence[str] = (),
    flt: MessageFilter | None = None,
    limit: int = 100_000,
) -> Selection:
    """The parked copies to replay: the given ids, or every parked message matching
    ``flt`` (the transport's parked queue is the truth; the store supplies the fields
    a filter looks at). One copy per message id, oldest first."""
    if message_ids and flt is not None and not flt.empty:
        raise InvalidInput("replay: give message ids or a filter, not both", field="filter")
    if not message_ids and flt is None:
        raise InvalidInput("replay: give message ids or a --filter", field="filter")
    by_id: dict[str, ParkedMessage] = {}
    for parked in transport.list_parked(limit):
        by_id.setdefault(parked.envelope.message_id, parked)
    if message_ids:
        wanted = list(dict.fromkeys(message_ids))
        return Selection(
            tuple(by_id[i] for i in wanted if i in by_id),
            tuple(i for i in wanted if i not in by_id),
        )
    assert flt is not None
    chosen: list[ParkedMessage] = []
    for message_id, parked in by_id.items():
        view = store.get(message_id)
        if view is None:
            log.warning("parked message unknown to the store", message_id=message_id)
            continue
        if flt.matches(view, error=f"{parked.reason}: {parked.last_error}"):
            chosen.append(parked)
    return Selection(tuple(chosen))


class ReplayRefused(Exception):
    """The parked copy cannot be replayed; ``outcome`` is ``refused`` or ``tampered``."""

    def __init__(self, outcome: Outcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


def stored_original(
    store: MessageStore, verifier: EnvelopeVerifier, parked: ParkedMessage
) -> Envelope:
    """The stored envelope a parked copy stands for, verified and compared (see the rules)."""
    message_id = parked.envelope.message_id
    stored = store.get_envelope(message_id)
    if stored is None:
        raise ReplayRefused("refused", "not in the message store: only stored messages replay")
    copy = parked.envelope
    differs = [
        name
        for name, ours, theirs in (
            ("body", stored.body, copy.body),
            ("type", stored.type, parked.original_type or copy.type),
            ("recipient", stored.recipient, copy.recipient),
        )
        if ours != theirs
    ]
    if differs:
        raise ReplayRefused(
            "tampered", f"the parked copy's {', '.join(differs)} differs from the stored message"
        )
    try:
        verifier.verify(stored, check_age=False, check_retention=False)
    except SignatureInvalid as error:
        raise ReplayRefused(
            "refused", f"the stored message does not verify ({error.reason})"
        ) from error
    return stored


def replay_envelope(
    signer: EnvelopeSigner, stored: Envelope, count: int, request: ReplayRequest, now: datetime
) -> Envelope:
    """The re-signed copy of a stored message: same id, replay ``count`` signed in."""
    headers = {k: v for k, v in stored.headers.items() if k not in REPLAY_HEADERS}
    headers.update(
        {
            "replay_count": str(count),
            "replayed_by": request.actor,
            "replayed_at": now.isoformat(),
            "replay_reason": scrub(request.reason)[:MAX_REASON_HEADER],
        }
    )
    return signer.sign(
        message_id=stored.message_id,
        type=stored.type,
        recipient=stored.recipient,
        body=stored.body,
        correlation_id=stored.correlation_id,
        headers=headers,
        replay=count,
    )


def _refusal(
    audit: AuditTrail, parked: ParkedMessage, request: ReplayRequest, refused: ReplayRefused
) -> ReplayResult:
    message_id = parked.envelope.message_id
    log.warning(
        "replay refused", message_id=message_id, outcome=refused.outcome, detail=refused.detail
    )
    if not request.dry_run:
        audit.record(
            request.actor,
            "replay_refused",
            f"message:{message_id}",
            request.reason,
            {"outcome": refused.outcome, "detail": refused.detail, "park_reason": parked.reason},
        )
    return ReplayResult(message_id, refused.outcome, detail=refused.detail)


def replay_one(
    store: MessageStore,
    audit: AuditTrail,
    transport: Transport,
    signer: EnvelopeSigner,
    parked: ParkedMessage,
    request: ReplayRequest,
    *,
    batch: str = "",
    verifier: EnvelopeVerifier | None = None,
) -> ReplayResult:
    """Replay one parked message following the module rules, in their order."""
    original_id = parked.envelope.message_id
    try:
        stored = stored_original(store, verifier or EnvelopeVerifier(signer.keystore), parked)
    except ReplayRefused as refused:
        return _refusal(audit, parked, request, refused)
    view = store.get(original_id)
    count = 1 + sum(1 for e in view.timeline if e.event == EventKind.REPLAYED) if view else 1
    envelope = replay_envelope(signer, stored, count, request, datetime.now(UTC))
    if request.dry_run:
        return ReplayResult(original_id, "would_replay", original_id, envelope.type)
    audit.record(
        request.actor,
        "replay",
        f"message:{original_id}",
        request.reason,
        {
            "replay_count": count,
            "type": envelope.type,
            "park_reason": parked.reason,
            "attempts": parked.attempts,
            "batch": batch,
        },
    )
    store.record_event(
        original_id,
        EventKind.REPLAYED,
        status=MessageStatus.REPLAYED,
        detail=f"replay {count} by {request.actor}: {scrub(request.reason)[:MAX_REASON_HEADER]}",
    )
    try:
        transport.publish([envelope])
    except (GatewayError, SQLAlchemyError) as error:  # still parked: say so at once
        store.record_event(
            original_id,
            EventKind.PARKED,
            status=MessageStatus.PARKED,
            detail=f"{parked.reason}: replay {count} not published ({type(error).__name__})",
        )
        audit.record(
            request.actor,
            "replay_failed",
            f"message:{original_id}",
            request.reason,
            {"replay_count": count, "error": type(error).__name__, "batch": batch},
        )
        raise
    taken = transport.take_parked(original_id)
    detail = "" if taken is not None else "parked copy was already gone (replayed concurrently?)"
    log.info("message replayed", message_id=original_id, replay_count=count)
    return ReplayResult(original_id, "replayed", original_id, envelope.type, detail)


class _Pacer:
    """At most ``rate`` calls per second, evenly spaced."""

    def __init__(self, rate: float | None, sleep: Callable[[float], None]) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._sleep = sleep
        self._next = time.monotonic()

    def wait(self) -> None:
        if not self._interval:
            return
        delay = self._next - time.monotonic()
        if delay > 0:
            self._sleep(delay)
        self._next = max(self._next, time.monotonic()) + self._interval


def replay_messages(
    store: MessageStore,
    audit: AuditTrail,
    transport: Transport,
    signer: EnvelopeSigner,
    selection: Selection,
    request: ReplayRequest,
    *,
    on_result: Callable[[ReplayResult], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    verifier: EnvelopeVerifier | None = None,
) -> list[ReplayResult]:
    """Replay every selected parked copy (see the module rules); returns one result per
    message, including the asked-for ids that were not parked. Stops at the first
    transport or database failure (that message and the rest stay parked)."""
    results: list[ReplayResult] = []

    def report(result: ReplayResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    for missing in selection.missing:
        report(ReplayResult(missing, "not_parked", detail="not in the parked queue"))
    pacer = _Pacer(None if request.dry_run else request.rate_per_second, sleep)
    batch = uuid.uuid4().hex[:12]
    verifier = verifier or EnvelopeVerifier(signer.keystore)
    for parked in selection.parked:
        pacer.wait()
        try:
            result = replay_one(
                store, audit, transport, signer, parked, request, batch=batch, verifier=verifier
            )
        except (GatewayError, SQLAlchemyError) as error:
            detail = f"{type(error).__name__}: {scrub(str(error))[:300]}"
            log.error("replay stopped", message_id=parked.envelope.message_id, error=detail)
            report(ReplayResult(parked.envelope.message_id, "failed", detail=detail))
            break
        report(result)
    return results
