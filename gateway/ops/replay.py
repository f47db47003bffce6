"""Safe replay of parked messages, one by one or by filter.

What it is for: after the cause of a failure is fixed (a partner back up, a contract
corrected), an operator sends the parked messages again: ``tthc-gateway replay`` and
``POST /v1/admin/replays`` call :func:`replay_messages`.

Rules (the order is what makes it safe; each step is durable before the next starts):
1. The replay is a NEW envelope: id :func:`replay_message_id` (derived from the parked
   message's id, so running the same replay twice yields the same id), the same body
   bytes, type (the parked copy's original type, hence its original queue), recipient
   and correlation id; headers ``replay_of``, ``replayed_by``, ``replayed_at``,
   ``replay_reason``; signed afresh with the active key (a long-parked message's
   signature may be older than the verifier's ``max_age`` or its key retired).
2. It is accepted into the message store (``accepted``, "replay of X"), so the
   worker can record its timeline; accepting it again is a no-op.
3. It is published with confirm; the outbox row is cleared (``published``).
4. The audit entry (action ``replay``: who, when, why, the replay id) is written.
5. The original's timeline gets ``replayed`` ("replayed as R by who: why").
6. Only then is the parked copy removed (:meth:`Transport.take_parked`).
A crash, Ctrl-C or a broker failure between any two steps leaves the message still
parked (nothing lost); running the replay again repeats the steps with the same
replay id, and the worker's ledger (keyed on the message id) processes it once.
- Dry run: selects and reports, writes nothing. A reason is required otherwise.
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

from gateway.domain.errors import GatewayError, InvalidInput
from gateway.domain.messages import Envelope, MessageStatus
from gateway.envelope import EnvelopeSigner
from gateway.logging import get_logger
from gateway.messaging.port import ParkedMessage, Transport
from gateway.ops.messages import MessageFilter, scrub
from gateway.store.audit import AuditTrail
from gateway.store.messages import EventKind, MessageStore

log = get_logger(__name__)

#: Namespace of replay ids (uuid5 of ``replay:<parked message id>``).
REPLAY_NAMESPACE = uuid.UUID("8b0f5f0e-6a53-4d0c-9b1e-7d1a2f3c4b5d")
REPLAY_HEADERS = ("replay_of", "replayed_by", "replayed_at", "replay_reason")
MAX_REASON_HEADER = 200
Outcome = Literal["replayed", "would_replay", "not_parked", "failed"]


def replay_message_id(parked_message_id: str) -> str:
    """The id a replay of ``parked_message_id`` carries (deterministic, see the rules)."""
    return str(uuid.uuid5(REPLAY_NAMESPACE, f"replay:{parked_message_id}"))


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
        if flt.matches(view, error=parked.last_error):
            chosen.append(parked)
    return Selection(tuple(chosen))


def replay_envelope(
    signer: EnvelopeSigner, parked: ParkedMessage, request: ReplayRequest, now: datetime
) -> Envelope:
    """The re-signed copy of a parked message (rule 1)."""
    original = parked.envelope
    headers = {k: v for k, v in original.headers.items() if k not in REPLAY_HEADERS}
    headers.update(
        {
            "replay_of": original.message_id,
            "replayed_by": request.actor,
            "replayed_at": now.isoformat(),
            "replay_reason": scrub(request.reason)[:MAX_REASON_HEADER],
        }
    )
    return signer.sign(
        message_id=replay_message_id(original.message_id),
        type=parked.original_type or original.type,
        recipient=original.recipient,
        body=original.body,
        correlation_id=original.correlation_id,
        headers=headers,
    )


def _replayed_status() -> str | None:
    """``replayed`` once the domain's MessageStatus has it; until then the status stays."""
    try:
        return MessageStatus("replayed").value
    except ValueError:
        return None


def replay_one(
    store: MessageStore,
    audit: AuditTrail,
    transport: Transport,
    signer: EnvelopeSigner,
    parked: ParkedMessage,
    request: ReplayRequest,
    *,
    batch: str = "",
) -> ReplayResult:
    """Replay one parked copy following the module rules, in their order."""
    original_id = parked.envelope.message_id
    now = datetime.now(UTC)
    envelope = replay_envelope(signer, parked, request, now)
    if request.dry_run:
        return ReplayResult(original_id, "would_replay", envelope.message_id, envelope.type)
    view = store.get(original_id)
    store.accept(
        envelope,
        dossier_code=view.dossier_code if view else None,
        partner=view.partner if view else envelope.recipient,
    )
    transport.publish([envelope])
    store.mark_published([envelope.message_id])
    audit.record(
        request.actor,
        "replay",
        f"message:{original_id}",
        request.reason,
        {
            "replay_id": envelope.message_id,
            "type": envelope.type,
            "park_reason": parked.reason,
            "attempts": parked.attempts,
            "batch": batch,
        },
    )
    store.record_event(
        original_id,
        EventKind.REPLAYED,
        status=_replayed_status(),
        detail=f"replayed as {envelope.message_id} by {request.actor}: "
        f"{scrub(request.reason)[:MAX_REASON_HEADER]}",
    )
    taken = transport.take_parked(original_id)
    detail = "" if taken is not None else "parked copy was already gone (replayed concurrently?)"
    log.info("message replayed", message_id=original_id, replay_id=envelope.message_id)
    return ReplayResult(original_id, "replayed", envelope.message_id, envelope.type, detail)


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
    for parked in selection.parked:
        pacer.wait()
        try:
            result = replay_one(store, audit, transport, signer, parked, request, batch=batch)
        except (GatewayError, SQLAlchemyError) as error:
            detail = f"{type(error).__name__}: {scrub(str(error))[:300]}"
            log.error("replay stopped", message_id=parked.envelope.message_id, error=detail)
            report(ReplayResult(parked.envelope.message_id, "failed", detail=detail))
            break
        report(result)
    return results
