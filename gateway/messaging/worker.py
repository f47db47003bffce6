"""The worker: verifies, deduplicates, handles and records every delivered message.

Per delivery, in this order:
1. A delivery whose transport headers did not decode (``defect``) is parked at once as
   ``bad_headers``: poison never crashes the worker nor holds the rest of its batch.
2. Verify the envelope's signature against the type and recipient of the queue it arrived on.
   A refusal parks the copy with the verifier's reason code (``bad_signature``,
   ``unknown_kid``, ``recipient_mismatch``, ``iat_expired``, ...); the handler is NEVER called.
   Only a refusal that proves the envelope ours (``iat_expired``, ``kid_retired``) marks the
   stored message ``parked``; any other refusal adds a ``refused`` note to its timeline and
   changes nothing else (a forged copy never parks or hides the real message).
   Copies of one message id in one batch: the first copy that passed verification decides for
   the others (a forged copy never makes the real one be acked unhandled).
3. Claim ``(consumer, message_id)`` in the ledger, naming this worker process: ``done`` → ack
   without calling the handler (a duplicate; if the store does not say ``delivered`` yet, a
   worker died between the ledger completion and the timeline: ``delivered`` and the
   evidence record are written now); ``busy`` (another live worker holds it) →
   **defer**: delayed redelivery that spends no attempt and never parks. A claim held by a dead
   worker is taken over at once (:mod:`gateway.store.workers`). While the handlers run, the
   heartbeat renews the batch's leases (:meth:`Worker.renew_leases`).
4. Call the handler for the queue's type with the envelope. Its return value (a dict, or
   anything else, kept as text) is the stored outcome.
5. Map what the handler raised (the claim is released first):
   - a call refused before it was made (the partner's circuit is open) → defer until the
     circuit's trial, no attempt spent: a partner outage is not the message's fault;
   - a permanent error (any non-transient :class:`GatewayError`: a contract violation, a
     partner's refusal, a malformed answer) → park at once with its code;
   - the partner down on a call that was made (timeout, 5xx, connection refused) → defer to the
     attempt's retry tier, one attempt spent, never parked by attempts: parked only once the
     first failure is older than the retry budget (``retry_budget_exhausted``);
   - anything else → retry; past the transport's ``max_attempts`` parked
     (``attempts_exhausted``), and the store says so.
   The store unavailable for the claim → defer, no attempt spent.
6. On success complete the ledger with the outcome; record the timeline (attempt started,
   delivered / attempt failed, retrying, parked) and one evidence record per delivered message,
   batched: one transaction for the timeline and one for the evidence per batch; only then does
   the transport acknowledge. Every park is recorded on the timeline (status ``parked`` with
   the reason) before the transport parks the copy.
7. Every delivery sent back to a delay tier (``defer`` or ``retry``; not ``ack``, not ``park``)
   gets its ``due_at`` in the store: now + the delay of the tier the transport will use
   (:meth:`RetryPolicy.redelivery_delay`, the one mapping the RabbitMQ transport publishes
   by), written in the timeline's transaction. A deferral that made no call (circuit open,
   ledger busy or away) writes no event, only ``due_at``. It is what the re-drive from the
   store looks at (:mod:`gateway.messaging.redrive`; RabbitMQ only: the embedded queue waits
   a deferral's exact delay, and nothing reads ``due_at`` there).

Handlers run side by side on ``concurrency`` threads, one lane per dossier: a dossier's
messages in a batch keep their order (:mod:`.lanes`); everything above holds per message.

Exactly once, and its one window: claims are made for the whole batch (one transaction).
A handler's side effect and its ledger completion cannot share a transaction, so a crash in
between repeats that handler; ``completion`` sets how wide that window is:
- ``"group"`` (the default): each completion is handed to a group-commit thread
  (:mod:`.completion`) as soon as its handler returns and is durable one flush later (a commit's
  time), while the next handlers run; the batch is acked once all its completions are written.
  A crash repeats only the handlers that returned during the flush in progress.
- ``"each"``: completed synchronously after each handler (a window of one message, one commit
  per message: the slowest).
- ``"batch"``: one completion transaction per batch; a crash mid-batch repeats every handler of
  that batch that had run. Only for handlers idempotent on the message id.

Rules: error texts stored on the timeline are the error's code and ``detail`` (which the error
tree keeps free of personal data); for unexpected exceptions only the class name is kept.
A worker stops when ``stop`` is set: the batch in hand is finished, the rest returns to the queue.
Give it :class:`gateway.store.batch_timeline.BatchTimeline` as ``store`` for throughput (the
plain ``MessageStore.record_events`` costs one round trip per event).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from types import FrameType
from typing import Any, Literal, Protocol

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gateway.domain.errors import GatewayError, SignatureInvalid, UpstreamError
from gateway.domain.messages import Envelope
from gateway.messaging.codec import now_utc
from gateway.messaging.completion import CompletionFlusher
from gateway.messaging.lanes import LaneRunner, lanes_of
from gateway.messaging.port import REASON_EXHAUSTED, Delivery, Disposition, Transport
from gateway.store.evidence import EvidenceEntry
from gateway.store.evidence_format import BodyPolicy
from gateway.store.ledger import Claim
from gateway.store.message_ports import (
    BatchLedgerPort,
    Evidence,
    LedgerPort,
    RenewingLedgerPort,
    Timeline,
)
from gateway.store.messages import EventRecord

log = logging.getLogger(__name__)

#: Signature refusals of a genuine envelope (signed by us, only too old or its key retired):
#: these park the stored message; every other refusal leaves its status alone.
GENUINE_REFUSALS = frozenset({"iat_expired", "kid_retired"})

#: Park reasons this module sets besides the verifier's and the errors' codes.
REASON_BAD_HEADERS = "bad_headers"
REASON_BUDGET = "retry_budget_exhausted"

MessageHandler = Callable[[Envelope], object]


class Verifier(Protocol):
    def verify(
        self,
        envelope: Envelope,
        *,
        expected_type: str | Enum | None = None,
        expected_recipient: str | None = None,
    ) -> dict[str, Any]: ...


@dataclass
class _Result:
    disposition: Disposition
    events: list[EventRecord] = field(default_factory=list)
    evidence: EvidenceEntry | None = None


def _outcome_of(result: object) -> dict[str, Any]:
    if result is None:
        return {}
    if isinstance(result, dict):
        return result
    return {"result": str(result)[:500]}


def _error_text(error: BaseException) -> str:
    if isinstance(error, GatewayError):
        return f"{error.code}: {error.detail}"
    return type(error).__name__


class Worker:
    """Consumes the types in ``handlers`` from ``transport`` (see the module docstring)."""

    def __init__(
        self,
        transport: Transport,
        verifier: Verifier,
        ledger: LedgerPort,
        store: Timeline,
        evidence: Evidence,
        handlers: Mapping[str, MessageHandler],
        consumer_name: str,
        *,
        lease: timedelta = timedelta(minutes=5),
        max_batch: int = 100,
        body_policy: BodyPolicy = "digest",
        completion: Literal["group", "each", "batch"] = "group",
        concurrency: int = 1,
    ) -> None:
        self.transport = transport
        self.verifier = verifier
        self.ledger = ledger
        self.store = store
        self.evidence = evidence
        self.handlers = dict(handlers)
        self.consumer_name = consumer_name
        self.lease = lease
        self.max_batch = max_batch
        self.body_policy = body_policy
        self.completion = completion
        self._held: dict[str, list[str]] = {}  # token -> message ids whose handlers are running
        self._held_lock = threading.Lock()
        self._lanes = LaneRunner(concurrency, name=f"{consumer_name}-lane")
        self._group: CompletionFlusher | None = None
        if completion == "group":
            self._group = CompletionFlusher(self._complete, name=consumer_name)

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set (blocking)."""
        try:
            self.transport.consume_batches(
                list(self.handlers), self.handle_batch, stop=stop, max_batch=self.max_batch
            )
        finally:
            self._lanes.close()

    def handle(self, delivery: Delivery) -> Disposition:
        return self.handle_batch([delivery])[0]

    def handle_batch(self, deliveries: Sequence[Delivery]) -> list[Disposition]:
        results: list[_Result | None] = [None] * len(deliveries)
        to_claim: list[int] = []
        first_of: dict[str, int] = {}
        for index, delivery in enumerate(deliveries):
            refused = self._refusal(delivery)
            if refused is not None:
                results[index] = refused
                continue
            mid = delivery.envelope.message_id
            if mid in first_of:  # a verified copy already in this batch decides for this one
                results[index] = _Result(Disposition.ack())
                continue
            first_of[mid] = index
            to_claim.append(index)
        claims = self._claim([deliveries[i].envelope.message_id for i in to_claim])
        held = self._hold(claims)
        try:
            self._run_claimed(deliveries, to_claim, claims, results)
            self._finish_done(deliveries, to_claim, claims, results)
        except BaseException:
            self._release_all(claims)  # claims left behind would block redelivery till lease end
            raise
        finally:
            self._let_go(held)
        final = [result for result in results if result is not None]
        due = self._due(deliveries, results)
        self._record_events([event for result in final for event in result.events], due)
        entries = [result.evidence for result in final if result.evidence is not None]
        if entries:
            self.evidence.append_many(entries)
        return [result.disposition for result in final]

    def _run_claimed(
        self,
        deliveries: Sequence[Delivery],
        to_claim: list[int],
        claims: Mapping[str, Claim],
        results: list[_Result | None],
    ) -> None:
        completions: list[tuple[str, dict[str, Any], str | None]] = []
        submitted: list[int] = []

        def handle(index: int) -> None:  # on a lane's thread (gateway.messaging.lanes)
            delivery = deliveries[index]
            claim = claims.get(delivery.envelope.message_id)
            result, outcome = self._run(delivery, claim)
            results[index] = result
            if outcome is None or claim is None:
                return
            completion = (delivery.envelope.message_id, outcome, claim.token)
            if self.completion == "group":
                submitted.append(self._flusher().submit(completion))
            elif self.completion == "each":
                self._complete([completion])
            else:
                completions.append(completion)

        self._lanes.run(lanes_of(deliveries, to_claim), handle)
        self._complete(completions)
        if submitted:
            self._flusher().wait(min(submitted), max(submitted))

    # -- leases in hand ---------------------------------------------------------------------

    def _hold(self, claims: Mapping[str, Claim]) -> dict[str, list[str]]:
        held: dict[str, list[str]] = {}
        for claim in claims.values():
            if claim.owned and claim.token is not None:
                held.setdefault(claim.token, []).append(claim.message_id)
        with self._held_lock:
            for token, ids in held.items():
                self._held[token] = ids
        return held

    def _let_go(self, held: Mapping[str, list[str]]) -> None:
        with self._held_lock:
            for token in held:
                self._held.pop(token, None)

    def renew_leases(self, _worker_id: str, lease: timedelta) -> None:
        """Renew the leases of the claims in hand (called by the heartbeat; see liveness)."""
        with self._held_lock:
            held = {token: list(ids) for token, ids in self._held.items()}
        if held and isinstance(self.ledger, RenewingLedgerPort):
            self.ledger.renew(self.consumer_name, held, lease)

    def _release_all(self, claims: Mapping[str, Claim]) -> None:
        for claim in claims.values():
            if not claim.owned:
                continue
            try:
                self.ledger.release(self.consumer_name, claim.message_id, token=claim.token)
            except Exception as error:  # noqa: BLE001 - best effort; the lease frees it anyway
                log.warning("message %s: claim not released (%s)", claim.message_id, error)
                return

    # -- steps ------------------------------------------------------------------------------

    def _refusal(self, delivery: Delivery) -> _Result | None:
        """Park a delivery that is poison, whose signature is refused, or that has no handler."""
        envelope = delivery.envelope
        if delivery.defect is not None:
            log.warning("message %s parked: %s", envelope.message_id, delivery.defect)
            return self._park(delivery, REASON_BAD_HEADERS, delivery.defect)
        try:
            self.verifier.verify(
                envelope,
                expected_type=delivery.queue_type,
                expected_recipient=delivery.queue_type.split(".", 1)[0],
            )
        except SignatureInvalid as refusal:
            log.warning("message %s refused: %s", envelope.message_id, refusal.reason)
            return self._park(delivery, refusal.reason, refusal.detail, refused=True)
        if delivery.queue_type not in self.handlers:
            return self._park(delivery, "no_handler", f"no handler for {delivery.queue_type}")
        return None

    def _claim(self, message_ids: list[str]) -> dict[str, Claim]:
        if not message_ids:
            return {}
        try:
            if isinstance(self.ledger, BatchLedgerPort):
                return self.ledger.claim_many(self.consumer_name, message_ids, self.lease)
            return {
                mid: self.ledger.claim(self.consumer_name, mid, self.lease) for mid in message_ids
            }
        except (GatewayError, SQLAlchemyError) as error:
            log.warning("ledger unavailable (%s); the batch will be retried", type(error).__name__)
            return {}

    def _run(
        self, delivery: Delivery, claim: Claim | None
    ) -> tuple[_Result, dict[str, Any] | None]:
        envelope = delivery.envelope
        mid = envelope.message_id
        if claim is None:  # the store is away: not the message's fault
            disposition = Disposition.defer(
                "ledger_unavailable", "ledger claim failed", delay=self._short_delay()
            )
            return _Result(disposition), None
        if claim.state == "done":
            return _Result(Disposition.ack()), None
        if claim.state == "busy":  # contention is not failure: wait for the holder
            holder = f"held by worker {claim.holder}" if claim.holder else "held by another claim"
            return _Result(
                Disposition.defer("ledger_busy", holder, delay=self._short_delay())
            ), None
        started = EventRecord(mid, "attempt_started", attempt=delivery.attempt)
        try:
            outcome = _outcome_of(self.handlers[delivery.queue_type](envelope))
        except Exception as error:  # noqa: BLE001 - every failure is mapped to a disposition
            self.ledger.release(self.consumer_name, mid, token=claim.token)
            result = self._failed(delivery, error)
            if result.disposition.action != "defer" or result.disposition.spent:
                result.events.insert(0, started)  # a call was made
            return result, None
        result = self._delivered(delivery)
        result.events.insert(0, started)
        return result, outcome

    def _delivered(self, delivery: Delivery, detail: str | None = None) -> _Result:
        """Ack with the ``delivered`` event and the evidence record of the delivered message."""
        envelope = delivery.envelope
        mid = envelope.message_id
        delivered = EventRecord(
            mid, "delivered", status="delivered", attempt=delivery.attempt, detail=detail
        )
        entry = EvidenceEntry(
            direction="out",
            partner=envelope.recipient,
            body=envelope.body,
            message_id=mid,
            correlation_id=envelope.correlation_id,
            # metadata the acceptor put in the headers (not signed), for evidence by dossier
            dossier_code=envelope.headers.get("x-dossier-code"),
            signature=envelope.jws,
            body_policy=self.body_policy,
        )
        return _Result(Disposition.ack(), [delivered], entry)

    def _finish_done(
        self, deliveries: Sequence[Delivery], to_claim: list[int], claims: Mapping[str, Claim],
        results: list[_Result | None],
    ) -> None:  # fmt: skip
        """A redelivery the ledger says is done, whose store status is not ``delivered``: a
        worker died (or the store went away) between the ledger completion and the batch's
        timeline and evidence writes. Write them now, so the store tells the truth."""
        statuses = getattr(self.store, "statuses", None)
        done = [
            i for i in to_claim
            if (c := claims.get(deliveries[i].envelope.message_id)) is not None
            and c.state == "done"
        ]  # fmt: skip
        if not done or statuses is None:
            return
        # the store away: raise, so the batch goes back and is repaired on its redelivery
        known: Mapping[str, str] = statuses([deliveries[i].envelope.message_id for i in done])
        for index in done:
            status = known.get(deliveries[index].envelope.message_id)
            if status is not None and status not in ("delivered", "failed"):
                results[index] = self._delivered(
                    deliveries[index], "recorded on a redelivery: handled before, not recorded"
                )

    def _flusher(self) -> CompletionFlusher:
        if self._group is None:
            self._group = CompletionFlusher(self._complete, name=self.consumer_name)
        return self._group

    def _complete(self, completions: list[tuple[str, dict[str, Any], str | None]]) -> None:
        if not completions:
            return
        if isinstance(self.ledger, BatchLedgerPort):
            by_token: dict[str, dict[str, dict[str, Any]]] = {}
            for mid, outcome, token in completions:
                by_token.setdefault(token or "", {})[mid] = outcome
            for token, outcomes in by_token.items():
                lost = self.ledger.complete_many(self.consumer_name, outcomes, token=token)
                for mid in lost:  # our lease was taken over: the other claim owns it now
                    log.warning("message %s: ledger completion refused (lease taken over)", mid)
            return
        for mid, outcome, token in completions:
            try:
                self.ledger.complete(self.consumer_name, mid, outcome, token=token)
            except GatewayError as error:  # our lease was taken over: the other claim owns it
                log.warning("message %s: ledger completion refused (%s)", mid, error.code)

    def _short_delay(self) -> float:
        return min(self.transport.retry_policy.delays)

    def _failed(self, delivery: Delivery, error: Exception) -> _Result:
        """Map a handler's error to a disposition and its timeline (module rule 5)."""
        text = _error_text(error)
        code = error.code if isinstance(error, GatewayError) else "unexpected_error"
        mid = delivery.envelope.message_id
        policy = self.transport.retry_policy
        if isinstance(error, UpstreamError) and not error.attempted:
            delay = error.retry_after if error.retry_after is not None else self._short_delay()
            return _Result(Disposition.defer(code, text, delay=delay))
        if not isinstance(error, GatewayError):
            log.error("message %s: handler raised %s", mid, text)
        failed = EventRecord(mid, "attempt_failed", detail=text, attempt=delivery.attempt)
        if isinstance(error, GatewayError) and not error.transient:
            result = self._park(delivery, code, text)
        elif isinstance(error, UpstreamError):  # the partner is down: time budget, not attempts
            first = delivery.first_failure_at or now_utc()
            if (now_utc() - first).total_seconds() >= policy.budget_seconds:
                result = self._park(delivery, REASON_BUDGET, text)
            else:
                delay = policy.delay_for(delivery.attempt)
                result = _Result(
                    Disposition.defer(code, text, delay=delay, spent=True),
                    [EventRecord(mid, "retrying", status="retrying", detail=text)],
                )
        elif delivery.attempt >= policy.max_attempts:
            result = self._park(delivery, REASON_EXHAUSTED, text)
        else:
            result = _Result(
                Disposition.retry(code, text),
                [EventRecord(mid, "retrying", status="retrying", detail=text)],
            )
        result.events.insert(0, failed)
        return result

    def _park(
        self, delivery: Delivery, reason: str, error: str, *, refused: bool = False
    ) -> _Result:
        mid = delivery.envelope.message_id
        if refused and reason not in GENUINE_REFUSALS:
            # Not provably ours: the copy is parked as evidence, but it changes nothing about
            # the stored message of that id (a forgery must not park or hide a real one).
            event = EventRecord(mid, "refused", detail=f"a copy was refused: {reason}")
            return _Result(Disposition.park(reason, error), [event])
        events = [EventRecord(mid, "refused", detail=reason)] if refused else []
        events.append(EventRecord(mid, "parked", status="parked", detail=f"{reason}: {error}"))
        return _Result(Disposition.park(reason, error), events)

    def _due(
        self, deliveries: Sequence[Delivery], results: Sequence[_Result | None]
    ) -> dict[str, datetime]:
        """When each delivery sent back to a delay tier is due again (module rule 7)."""
        policy = self.transport.retry_policy
        now = now_utc()
        due: dict[str, datetime] = {}
        for delivery, result in zip(deliveries, results, strict=True):
            if result is None:
                continue
            delay = policy.redelivery_delay(result.disposition, delivery.attempt)
            if delay is not None:
                due[delivery.envelope.message_id] = now + timedelta(seconds=delay)
        return due

    def _record_events(self, events: list[EventRecord], due: Mapping[str, datetime]) -> None:
        if not events and not due:
            return
        try:
            self.store.record_events(events, due=due)
        except IntegrityError:
            # Some message is unknown to the store (e.g. forged straight into the broker):
            # record the others one by one and say which were skipped.
            for event in events:
                try:
                    self.store.record_events([event])
                except IntegrityError:
                    log.warning("timeline: message %s is not in the store", event.message_id)
            self.store.record_events([], due=due)  # an unknown id updates no row


def stop_on_signals(stop: threading.Event) -> None:
    """Set ``stop`` on SIGTERM or SIGINT (call from the main thread)."""

    def _handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
