"""Pure translation between envelopes / deliveries and the flat string headers a queue carries.

Both transports store a message as (body bytes, string headers); this module is the one place
that knows which header means what. No I/O, no broker types.

Rules:
- The body is never touched: it travels byte-exact (the JWS is over it).
- Times are ISO 8601 with offset; the envelope's own timestamp travels in ``x-timestamp`` so it
  survives exactly (AMQP's ``timestamp`` property only has whole seconds).
- A header that does not parse is an error naming the header, never a silent default;
  :func:`decode_delivery` turns that error into the delivery's ``defect`` (so the worker parks
  the message with the reason) instead of letting it escape into the consumer loop.
- A deferred delivery (:func:`defer_headers`) keeps its attempt count unless it spent one, and
  keeps the last real failure (a deferral is not a failure).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from gateway.domain.errors import ContractViolation
from gateway.domain.messages import Envelope
from gateway.messaging.port import (
    HEADER_ATTEMPT,
    HEADER_FIRST_FAILURE,
    HEADER_JWS,
    HEADER_LAST_ERROR,
    HEADER_LAST_FAILURE,
    HEADER_ORIGINAL_QUEUE,
    HEADER_ORIGINAL_TYPE,
    HEADER_PARK_REASON,
    HEADER_RECIPIENT,
    HEADER_TIMESTAMP,
    MAX_ERROR_CHARS,
    TRANSPORT_HEADERS,
    Delivery,
    ParkedMessage,
)


def now_utc() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def parse_time(value: str, header: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ContractViolation(
            f"header {header!r} is not an ISO 8601 time: {value[:40]!r}"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def envelope_headers(envelope: Envelope) -> dict[str, str]:
    """The headers that carry an envelope (its extras plus jws, recipient and timestamp)."""
    headers = {k: v for k, v in envelope.headers.items() if k not in TRANSPORT_HEADERS}
    headers[HEADER_JWS] = envelope.jws
    headers[HEADER_RECIPIENT] = envelope.recipient
    headers[HEADER_TIMESTAMP] = format_time(envelope.timestamp)
    return headers


def envelope_from(
    *,
    message_id: str,
    type_: str,
    correlation_id: str,
    body: bytes,
    headers: Mapping[str, str],
    fallback_timestamp: datetime | None = None,
) -> Envelope:
    """Rebuild an envelope from what a queue stored. Missing ``x-jws`` is kept as '' so the
    verifier refuses it with its own reason instead of the transport dropping the message."""
    stamp = headers.get(HEADER_TIMESTAMP)
    if stamp:
        timestamp = parse_time(stamp, HEADER_TIMESTAMP)
    else:
        timestamp = fallback_timestamp or now_utc()
    recipient = headers.get(HEADER_RECIPIENT) or type_.split(".", 1)[0]
    extras = {k: v for k, v in headers.items() if k not in TRANSPORT_HEADERS}
    return Envelope(
        message_id=message_id,
        type=type_,
        recipient=recipient,
        correlation_id=correlation_id,
        timestamp=timestamp,
        body=body,
        jws=headers.get(HEADER_JWS, ""),
        headers=extras,
    )


def attempt_of(headers: Mapping[str, str]) -> int:
    raw = headers.get(HEADER_ATTEMPT, "1")
    try:
        attempt = int(raw)
    except ValueError as exc:
        raise ContractViolation(
            f"header {HEADER_ATTEMPT!r} is not an integer: {raw[:20]!r}"
        ) from exc
    return max(attempt, 1)


def delivery_from(
    envelope: Envelope,
    headers: Mapping[str, str],
    *,
    queue: str,
    queue_type: str,
    redelivered: bool,
) -> Delivery:
    first = headers.get(HEADER_FIRST_FAILURE)
    return Delivery(
        envelope=envelope,
        attempt=attempt_of(headers),
        queue=queue,
        queue_type=queue_type,
        first_failure_at=parse_time(first, HEADER_FIRST_FAILURE) if first else None,
        last_error=headers.get(HEADER_LAST_ERROR),
        redelivered=redelivered,
    )


def decode_delivery(
    *,
    message_id: str,
    type_: str,
    correlation_id: str,
    body: bytes,
    headers: Mapping[str, str],
    queue: str,
    queue_type: str,
    redelivered: bool,
    fallback_timestamp: datetime | None = None,
) -> Delivery:
    """The delivery a queue holds; a header that does not decode becomes ``defect``."""
    try:
        envelope = envelope_from(
            message_id=message_id,
            type_=type_,
            correlation_id=correlation_id,
            body=body,
            headers=headers,
            fallback_timestamp=fallback_timestamp,
        )
        return delivery_from(
            envelope, headers, queue=queue, queue_type=queue_type, redelivered=redelivered
        )
    except ContractViolation as defect:
        safe = {k: v for k, v in headers.items() if k not in _DECODED_HEADERS}
        envelope = envelope_from(
            message_id=message_id,
            type_=type_,
            correlation_id=correlation_id,
            body=body,
            headers=safe,
            fallback_timestamp=fallback_timestamp,
        )
        return Delivery(
            envelope=envelope,
            attempt=1,
            queue=queue,
            queue_type=queue_type,
            last_error=safe.get(HEADER_LAST_ERROR),
            redelivered=redelivered,
            defect=defect.detail,
        )


#: Headers whose value is parsed (a bad one makes the delivery poison).
_DECODED_HEADERS = frozenset({HEADER_TIMESTAMP, HEADER_ATTEMPT, HEADER_FIRST_FAILURE})


def defer_headers(delivery: Delivery, error: str, when: datetime, *, spent: bool) -> dict[str, str]:
    """Headers of a deferred copy: one more attempt only if this one was ``spent``."""
    if spent:
        return retry_headers(delivery, error, when)
    headers = envelope_headers(delivery.envelope)
    headers[HEADER_ATTEMPT] = str(delivery.attempt)
    if delivery.first_failure_at is not None:
        headers[HEADER_FIRST_FAILURE] = format_time(delivery.first_failure_at)
    if delivery.last_error:
        headers[HEADER_LAST_ERROR] = delivery.last_error[:MAX_ERROR_CHARS]
    return headers


def retry_headers(delivery: Delivery, error: str, when: datetime) -> dict[str, str]:
    """Headers for the next attempt after ``delivery`` failed with ``error`` at ``when``."""
    headers = envelope_headers(delivery.envelope)
    headers[HEADER_ATTEMPT] = str(delivery.attempt + 1)
    headers[HEADER_FIRST_FAILURE] = format_time(delivery.first_failure_at or when)
    headers[HEADER_LAST_FAILURE] = format_time(when)
    headers[HEADER_LAST_ERROR] = error[:MAX_ERROR_CHARS]
    return headers


def park_headers(delivery: Delivery, reason: str, error: str, when: datetime) -> dict[str, str]:
    """Headers of a parked copy: the parking record plus what is needed to rebuild the envelope."""
    headers = envelope_headers(delivery.envelope)
    headers[HEADER_ATTEMPT] = str(delivery.attempt)
    headers[HEADER_FIRST_FAILURE] = format_time(delivery.first_failure_at or when)
    headers[HEADER_LAST_FAILURE] = format_time(when)
    headers[HEADER_LAST_ERROR] = error[:MAX_ERROR_CHARS]
    headers[HEADER_PARK_REASON] = reason
    headers[HEADER_ORIGINAL_TYPE] = delivery.envelope.type
    headers[HEADER_ORIGINAL_QUEUE] = delivery.queue
    return headers


def parked_from(envelope: Envelope, headers: Mapping[str, str]) -> ParkedMessage:
    first = headers.get(HEADER_FIRST_FAILURE)
    last = headers.get(HEADER_LAST_FAILURE)
    return ParkedMessage(
        envelope=envelope,
        reason=headers.get(HEADER_PARK_REASON, ""),
        original_type=headers.get(HEADER_ORIGINAL_TYPE, envelope.type),
        original_queue=headers.get(HEADER_ORIGINAL_QUEUE, ""),
        attempts=attempt_of(headers),
        first_failure_at=parse_time(first, HEADER_FIRST_FAILURE) if first else None,
        last_failure_at=parse_time(last, HEADER_LAST_FAILURE) if last else None,
        last_error=headers.get(HEADER_LAST_ERROR, ""),
    )
