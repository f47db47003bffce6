"""The transport port: how the gateway hands signed envelopes to a broker and gets them back.

Two implementations satisfy it (``rabbitmq.RabbitTransport`` on RabbitMQ,
``embedded.EmbeddedTransport`` on the SQL database); one contract test suite runs on both.

Rules:
- ``publish`` returns only when the broker has confirmed every envelope; anything else
  (a nack, an unroutable message, a lost connection) raises :class:`PublishFailed` and the
  caller must treat the whole batch as unpublished (publishing again is safe: consumers are
  idempotent on ``message_id``).
- ``consume`` is a blocking loop until ``stop`` is set. A delivery is acknowledged only after
  the handler returned its :class:`Disposition`; a handler that raises, or a process that dies,
  leaves the message unacknowledged and it is delivered again (at least once).
- ``retry`` sends the message to the next delayed tier; once ``max_attempts`` is reached it is
  parked instead (reason ``attempts_exhausted``). ``park`` parks at once.
- ``defer`` puts the message back after ``delay`` seconds (the nearest retry tier at or below
  it on RabbitMQ) and is **never parked by the transport**: the attempt count goes up only when
  the disposition says an attempt was ``spent`` (a partner call was made). For what is not the
  message's fault: another live worker holds it, the partner's circuit is open, the store is
  away, a partner outage within the retry budget (:attr:`RetryPolicy.budget_seconds`).
- A message whose transport headers do not decode is still delivered, with ``defect`` saying
  which header is wrong, so the worker parks it with its reason (poison never kills a consumer
  nor holds its batch).
- Replay of a parked message publishes the re-signed copy FIRST (with confirms), then removes
  the parked copy with :meth:`Transport.take_parked`: a crash in between leaves a duplicate
  (harmless), never a loss.
- No broker library type appears in this module or leaves an implementation module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from gateway.domain.errors import GatewayError
from gateway.domain.messages import Envelope, MessageType

#: Every message type the gateway routes (one queue each).
ALL_TYPES: tuple[str, ...] = tuple(member.value for member in MessageType)

#: Header names carried with every message (AMQP headers; JSON in the embedded queue).
HEADER_JWS = "x-jws"
HEADER_ATTEMPT = "x-attempt"
HEADER_FIRST_FAILURE = "x-first-failure-at"
HEADER_LAST_FAILURE = "x-last-failure-at"
HEADER_LAST_ERROR = "x-last-error"
HEADER_RECIPIENT = "x-recipient"
HEADER_TIMESTAMP = "x-timestamp"
HEADER_PARK_REASON = "x-park-reason"
HEADER_ORIGINAL_TYPE = "x-original-type"
HEADER_ORIGINAL_QUEUE = "x-original-queue"
#: Headers the transport owns; they are stripped from ``Envelope.headers`` on delivery.
TRANSPORT_HEADERS = frozenset(
    {
        HEADER_JWS,
        HEADER_ATTEMPT,
        HEADER_FIRST_FAILURE,
        HEADER_LAST_FAILURE,
        HEADER_LAST_ERROR,
        HEADER_RECIPIENT,
        HEADER_TIMESTAMP,
        HEADER_PARK_REASON,
        HEADER_ORIGINAL_TYPE,
        HEADER_ORIGINAL_QUEUE,
    }
)

#: Park reason used when a message used up its attempts.
REASON_EXHAUSTED = "attempts_exhausted"
#: Longest error text kept in a header (errors are redacted by the caller; this only bounds size).
MAX_ERROR_CHARS = 500


class TransportError(GatewayError):
    """The broker or queue could not be reached or refused an operation (transient)."""

    code = "transport_error"
    transient = True


class PublishFailed(TransportError):
    """At least one envelope of a batch was not confirmed; the batch counts as unpublished."""

    code = "publish_failed"


class Unroutable(PublishFailed):
    """The broker returned a ``mandatory`` message: no queue is bound for its type."""

    code = "unroutable"
    transient = False


@dataclass(frozen=True)
class RetryPolicy:
    """Delayed retry tiers (seconds, one per attempt, the last one repeats) and the attempt limit."""

    delays: tuple[float, ...] = (5.0, 30.0, 300.0, 1800.0)
    max_attempts: int = 5
    #: how long a partner may stay unavailable before its messages are parked (time, not tries)
    budget_seconds: float = 86_400.0

    def __post_init__(self) -> None:
        if not self.delays or any(d <= 0 for d in self.delays):
            raise ValueError(f"retry delays must be positive and non-empty, got {self.delays!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.budget_seconds <= 0:
            raise ValueError(f"retry budget must be positive, got {self.budget_seconds}")

    def tier_for_delay(self, delay: float) -> int:
        """The tier with the longest delay not above ``delay`` (the shortest tier at least)."""
        best = min(range(len(self.delays)), key=lambda i: self.delays[i])
        for index, tier_delay in enumerate(self.delays):
            if self.delays[best] < tier_delay <= delay:
                best = index
        return best

    def delay_for(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1`` after attempt ``attempt`` (1-based) failed."""
        return self.delays[min(attempt, len(self.delays)) - 1]

    def tier_index(self, attempt: int) -> int:
        return min(attempt, len(self.delays)) - 1

    def tier_for(self, disposition: Disposition, attempt: int) -> int | None:
        """The retry tier a delivery at ``attempt`` goes to for ``disposition``; None when it
        goes to no tier (ack; park; a retry past ``max_attempts``, which parks).

        The one mapping of a disposition to a tier: the RabbitMQ transport publishes to this
        tier, and the worker records ``messages.due_at`` from its delay
        (:meth:`redelivery_delay`), so the two cannot disagree.
        """
        if disposition.action == "defer":
            return self.tier_for_delay(disposition.delay)
        if disposition.action == "retry" and attempt < self.max_attempts:
            return self.tier_index(attempt)
        return None

    def redelivery_delay(self, disposition: Disposition, attempt: int) -> float | None:
        """Seconds until the tier of :meth:`tier_for` gives the message back (its TTL)."""
        tier = self.tier_for(disposition, attempt)
        return None if tier is None else self.delays[tier]


@dataclass(frozen=True)
class Delivery:
    """One message handed to a handler: the envelope plus what the transport knows about it.

    ``queue_type`` is the message type the queue it arrived on serves: what the verifier must
    find signed in the envelope (a message routed to the wrong queue is refused).
    """

    envelope: Envelope
    attempt: int
    queue: str
    queue_type: str
    first_failure_at: datetime | None = None
    last_error: str | None = None
    redelivered: bool = False
    #: set when a transport header did not decode (the message is poison: park it)
    defect: str | None = None


@dataclass(frozen=True)
class Disposition:
    """What the handler decided: ``ack``, ``retry`` later, ``defer`` (not counted), ``park``."""

    action: Literal["ack", "retry", "defer", "park"]
    reason: str = ""
    error: str = ""
    delay: float = 0.0  # defer: seconds before the next delivery
    spent: bool = False  # defer: this delivery made a partner call (the attempt count goes up)

    @classmethod
    def ack(cls) -> Disposition:
        return cls("ack")

    @classmethod
    def retry(cls, reason: str, error: str = "") -> Disposition:
        return cls("retry", reason, error[:MAX_ERROR_CHARS])

    @classmethod
    def defer(
        cls, reason: str, error: str = "", *, delay: float, spent: bool = False
    ) -> Disposition:
        return cls("defer", reason, error[:MAX_ERROR_CHARS], max(0.0, delay), spent)

    @classmethod
    def park(cls, reason: str, error: str = "") -> Disposition:
        return cls("park", reason, error[:MAX_ERROR_CHARS])


ACK = Disposition.ack()


@dataclass(frozen=True)
class ParkedMessage:
    """A parked envelope with the parking record an operator needs to decide on a replay."""

    envelope: Envelope
    reason: str
    original_type: str
    original_queue: str
    attempts: int
    first_failure_at: datetime | None
    last_failure_at: datetime | None
    last_error: str
    extra: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Delivery], Disposition]
BatchHandler = Callable[[Sequence[Delivery]], Sequence[Disposition]]


class Transport(Protocol):
    """Delivery of signed envelopes, at least once, with delayed retry and parking."""

    retry_policy: RetryPolicy

    def declare(self) -> None:
        """Create the topology (idempotent)."""

    def ping(self) -> None:
        """Raise unless the broker (or the queue table) answers and the topology exists.

        Cheap and side-effect free: for readiness probes (it touches no message)."""

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Publish and wait for every confirm; raise :class:`PublishFailed` otherwise."""

    def consume(self, types: Sequence[str], handler: Handler, *, stop: threading.Event) -> None:
        """Deliver messages of ``types`` one by one until ``stop`` is set."""

    def consume_batches(
        self,
        types: Sequence[str],
        handler: BatchHandler,
        *,
        stop: threading.Event,
        max_batch: int = 100,
    ) -> None:
        """Like :meth:`consume`, handing up to ``max_batch`` deliveries at a time.

        The handler returns one disposition per delivery, in order.
        """

    def park(self, delivery: Delivery, reason: str, error: str) -> None:
        """Park a message with its reason (used by tools; consumers return a disposition)."""

    def list_parked(self, limit: int = 100) -> list[ParkedMessage]:
        """The parked messages, oldest first, without removing them."""

    def take_parked(self, message_id: str) -> ParkedMessage | None:
        """Remove one parked message and return it (``None`` if it is not parked)."""

    def close(self) -> None:
        """Release connections held by the calling thread."""
