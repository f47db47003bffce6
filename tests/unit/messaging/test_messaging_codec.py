"""Pure parts of messaging: header codec, retry policy, tier names, dispositions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.errors import ContractViolation
from gateway.domain.messages import Envelope
from gateway.messaging import codec
from gateway.messaging.port import (
    HEADER_ATTEMPT,
    HEADER_FIRST_FAILURE,
    HEADER_JWS,
    MAX_ERROR_CHARS,
    Delivery,
    Disposition,
    RetryPolicy,
)
from gateway.messaging.rabbitmq import RabbitSettings, tier_label

WHEN = datetime(2026, 11, 27, 8, 0, 0, 250000, tzinfo=UTC)


def envelope(**changes: object) -> Envelope:
    fields: dict[str, object] = {
        "message_id": "m-1",
        "type": "portal.dossier.sync",
        "recipient": "portal",
        "correlation_id": "corr-1",
        "timestamp": WHEN,
        "body": b'{"MaHoSo": "000.00.00.H26-241120-0001"}',
        "jws": "aGVhZGVy..c2ln",
        "headers": {"replay_of": "m-0"},
    }
    fields.update(changes)
    return Envelope(**fields)  # type: ignore[arg-type]


def test_envelope_round_trips_through_headers_exactly() -> None:
    original = envelope()
    headers = codec.envelope_headers(original)
    assert headers[HEADER_JWS] == original.jws
    rebuilt = codec.envelope_from(
        message_id="m-1",
        type_="portal.dossier.sync",
        correlation_id="corr-1",
        body=original.body,
        headers=headers,
    )
    assert rebuilt == original


def test_transport_headers_never_leak_into_the_envelope_extras() -> None:
    dirty = envelope(headers={"replay_of": "m-0", HEADER_ATTEMPT: "7", HEADER_JWS: "forged"})
    headers = codec.envelope_headers(dirty)
    assert headers[HEADER_JWS] == dirty.jws  # the envelope's own jws wins
    assert HEADER_ATTEMPT not in headers


def test_retry_headers_count_attempts_and_keep_the_first_failure() -> None:
    first = Delivery(
        envelope(), attempt=1, queue="tthc.portal.dossier.sync", queue_type="portal.dossier.sync"
    )
    headers = codec.retry_headers(first, "upstream_timeout: portal", WHEN)
    second = codec.delivery_from(
        envelope(), headers, queue="q", queue_type="portal.dossier.sync", redelivered=False
    )
    assert second.attempt == 2
    assert second.first_failure_at == WHEN
    later = WHEN + timedelta(seconds=30)
    third = codec.delivery_from(
        envelope(),
        codec.retry_headers(second, "again", later),
        queue="q",
        queue_type="t",
        redelivered=False,
    )
    assert third.attempt == 3
    assert third.first_failure_at == WHEN  # not moved by later failures
    assert third.last_error == "again"


def test_park_headers_carry_the_parking_record() -> None:
    delivery = Delivery(
        envelope(),
        attempt=3,
        queue="tthc.portal.dossier.sync",
        queue_type="portal.dossier.sync",
        first_failure_at=WHEN,
    )
    parked = codec.parked_from(
        envelope(), codec.park_headers(delivery, "attempts_exhausted", "x" * 900, WHEN)
    )
    assert parked.reason == "attempts_exhausted"
    assert parked.original_type == "portal.dossier.sync"
    assert parked.original_queue == "tthc.portal.dossier.sync"
    assert parked.attempts == 3
    assert parked.first_failure_at == WHEN and parked.last_failure_at == WHEN
    assert len(parked.last_error) == MAX_ERROR_CHARS


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        (HEADER_ATTEMPT, "three", "x-attempt"),
        (HEADER_FIRST_FAILURE, "yesterday", "x-first-failure-at"),
    ],
)
def test_a_header_that_does_not_parse_is_named(header: str, value: str, message: str) -> None:
    headers = codec.envelope_headers(envelope())
    headers[header] = value
    with pytest.raises(ContractViolation, match=message):
        codec.delivery_from(envelope(), headers, queue="q", queue_type="t", redelivered=False)


def test_retry_policy_tiers_repeat_the_last_delay() -> None:
    policy = RetryPolicy(delays=(5, 30, 300, 1800), max_attempts=8)
    assert [policy.delay_for(a) for a in range(1, 7)] == [5, 30, 300, 1800, 1800, 1800]
    assert [policy.tier_index(a) for a in (1, 4, 9)] == [0, 3, 3]


@pytest.mark.parametrize(
    ("delays", "attempts", "message"),
    [((), 3, "non-empty"), ((5, -1), 3, "positive"), ((5,), 0, "max_attempts")],
)
def test_retry_policy_refuses_nonsense(
    delays: tuple[float, ...], attempts: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(delays=delays, max_attempts=attempts)


def test_tier_names_follow_the_design() -> None:
    assert [tier_label(d) for d in (5, 30, 300, 1800, 0.2, 1.5)] == [
        "5s",
        "30s",
        "5m",
        "30m",
        "200ms",
        "1500ms",
    ]
    settings = RabbitSettings(url="amqp://localhost")
    assert settings.tier_names() == [
        "tthc.retry.5s",
        "tthc.retry.30s",
        "tthc.retry.5m",
        "tthc.retry.30m",
    ]
    assert settings.parked == "tthc.parked"
    assert settings.queue_for("portal.dossier.sync") == "tthc.portal.dossier.sync"


def test_disposition_bounds_the_error_text() -> None:
    assert Disposition.ack().action == "ack"
    retry = Disposition.retry("boom", "e" * 2000)
    assert (retry.action, retry.reason, len(retry.error)) == ("retry", "boom", MAX_ERROR_CHARS)
    assert Disposition.park("contract_violation").error == ""


def test_the_configuration_chooses_the_transport(tmp_path: object) -> None:
    from pydantic import SecretStr
    from sqlalchemy import create_engine

    from gateway.messaging.embedded import EmbeddedTransport
    from gateway.messaging.factory import make_transport
    from gateway.messaging.rabbitmq import RabbitTransport
    from gateway.settings_model import BrokerSettings

    engine = create_engine("sqlite://")
    embedded = make_transport(BrokerSettings(max_attempts=7), engine)
    assert isinstance(embedded, EmbeddedTransport)
    assert embedded.retry_policy.max_attempts == 7
    rabbit = make_transport(
        BrokerSettings(url=SecretStr("amqp://guest:guest@127.0.0.1:5672/%2F"), prefetch=32), engine
    )
    assert isinstance(rabbit, RabbitTransport)  # no connection is made until first use
    assert rabbit.settings.prefetch == 32
    assert rabbit.settings.tier_names()[0] == "tthc.retry.5s"


def test_embedded_queue_without_its_table_says_what_to_run(tmp_path: object) -> None:
    from sqlalchemy import create_engine

    from gateway.domain.errors import ConfigError
    from gateway.messaging.embedded import EmbeddedTransport

    with pytest.raises(ConfigError, match="db upgrade"):
        EmbeddedTransport(create_engine("sqlite://")).declare()
