"""The city client delivering signed events to the city mock, in-process and over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from adapters.city.client import CityClient, CityConfig, CityEvent, CityRefused
from adapters.http import HttpConfig
from gateway.domain.errors import (
    UpstreamMalformed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.envelope import EnvelopeSigner
from gateway.keys import KeyStore
from gateway.testing.recorders import ListRecorder
from mocks.city.app import CityMock
from mocks.framework import FaultSpec

Site = Callable[[CityMock], AbstractContextManager[str]]


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    return KeyStore.ensure(Path(tmp_path_factory.mktemp("keys")))


@pytest.fixture
def mock(keystore: KeyStore) -> CityMock:
    return CityMock(jwks=keystore.public_jwks(), fetch_jwks=False)


@pytest.fixture
def site(partner_site: Site, mock: CityMock) -> Iterator[str]:
    with partner_site(mock) as base:
        yield base


def make_client(base: str, **http_changes: Any) -> tuple[CityClient, ListRecorder]:
    recorder = ListRecorder()
    settings: dict[str, Any] = {
        "connect_timeout": 1.0,
        "read_timeout": 1.0,  # under the mock's HANG_SECONDS (1.5), above a slow first call
        "allow_plain_http": True,
        "max_answer_bytes": 50_000,
        **http_changes,
    }
    http = HttpConfig("city", base, **settings)
    return CityClient(CityConfig(http), recorder), recorder


def status_event(
    keystore: KeyStore, *, status: str = "4", recipient: str = "city", message_id: str | None = None
) -> CityEvent:
    body = json.dumps(
        {
            "event": "city.dossier.status_changed",
            "status": {"MaHoSo": "000.00.00.H26-241120-0001", "TrangThaiHoSo": status},
        },
        separators=(",", ":"),
    ).encode()
    envelope = EnvelopeSigner(keystore).sign(
        message_id=message_id or str(uuid.uuid4()),
        type="city.dossier.status_changed",
        recipient=recipient,
        body=body,
        correlation_id="corr-42",
    )
    return CityEvent(
        envelope.message_id, envelope.type, envelope.correlation_id, envelope.body, envelope.jws
    )


def test_delivered_then_duplicate_is_success(site: str, mock: CityMock, keystore: KeyStore) -> None:
    client, recorder = make_client(site)
    event = status_event(keystore)
    first = client.deliver(event, dossier_code="000.00.00.H26-241120-0001")
    assert (first.outcome, first.http_status) == ("accepted", 202)
    again = client.deliver(event)
    assert (again.outcome, again.deliveries) == ("duplicate", 2)
    assert mock.deliveries(event.message_id) == 2
    out = recorder.exchanges[0]
    assert (out.direction, out.message_id, out.correlation_id, out.body) == (
        "out",
        event.message_id,
        "corr-42",
        event.body,
    )


def test_signature_refused_is_permanent(site: str, keystore: KeyStore) -> None:
    client, _ = make_client(site)
    event = status_event(keystore, recipient="portal")
    with pytest.raises(CityRefused, match=r"HTTP 401 \(recipient_mismatch\)") as refused:
        client.deliver(event)
    assert refused.value.reason == "recipient_mismatch" and not refused.value.transient
    tampered = status_event(keystore)
    tampered = CityEvent(
        tampered.message_id,
        tampered.type,
        tampered.correlation_id,
        tampered.body.replace(b'"4"', b'"9"'),
        tampered.jws,
    )
    with pytest.raises(CityRefused, match="bad_signature"):
        client.deliver(tampered)


def test_same_id_with_another_body_is_a_conflict(site: str, keystore: KeyStore) -> None:
    client, _ = make_client(site)
    first = status_event(keystore)
    client.deliver(first)
    with pytest.raises(CityRefused, match=r"HTTP 409 \(message_id_reused\)") as refused:
        client.deliver(status_event(keystore, status="5", message_id=first.message_id))
    assert isinstance(refused.value, UpstreamRejected) and not refused.value.transient


def without_correlation_id(event: CityEvent) -> CityEvent:
    """The same event with an empty X-Correlation-ID: the city answers 400."""
    return CityEvent(event.message_id, event.type, "", event.body, event.jws)


def test_bad_headers_are_a_permanent_refusal(site: str, keystore: KeyStore) -> None:
    client, _ = make_client(site)
    with pytest.raises(CityRefused, match=r"HTTP 400 \(missing_header\)") as refused:
        client.deliver(without_correlation_id(status_event(keystore)))
    assert isinstance(refused.value, UpstreamRejected) and not refused.value.transient
    assert refused.value.http_status == 400


def test_refusals_keep_the_link_up_and_outages_open_the_circuit(
    site: str, mock: CityMock, keystore: KeyStore
) -> None:
    client, _ = make_client(site, failure_threshold=2, reset_after=60.0)
    first = status_event(keystore)
    client.deliver(first)
    refusals = [
        without_correlation_id(status_event(keystore)),
        status_event(keystore, recipient="portal"),
        status_event(keystore, status="5", message_id=first.message_id),
    ]
    statuses = []
    for event in refusals * 2:  # more refusals than the threshold: the circuit stays closed
        with pytest.raises(CityRefused) as refused:
            client.deliver(event)
        assert not refused.value.transient
        statuses.append(refused.value.http_status)
    assert statuses == [400, 401, 409] * 2
    assert client.breaker.snapshot().consecutive_failures == 0
    mock.add_fault(FaultSpec(route="POST /events"))  # HTTP 500 from now on
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable, match="HTTP 500") as unavailable:
            client.deliver(status_event(keystore))
        assert unavailable.value.transient
    assert client.breaker.state == "open"
    received = len(mock.recorded)
    with pytest.raises(UpstreamUnavailable, match="circuit open"):
        client.deliver(status_event(keystore))
    assert len(mock.recorded) == received  # refused without calling the city


FAULTS: list[tuple[FaultSpec, type[Exception], str]] = [
    (FaultSpec(route="POST /events", timeout=True), UpstreamTimeout, "no answer within"),
    (FaultSpec(route="POST /events", status=503), UpstreamUnavailable, "HTTP 503"),
    (FaultSpec(route="POST /events"), UpstreamUnavailable, "HTTP 500"),
    (FaultSpec(route="POST /events", malformed=True), UpstreamMalformed, "breaks the contract"),
    (
        FaultSpec(route="POST /events", oversized_bytes=60_000),
        UpstreamMalformed,
        "over the 50000-byte limit",
    ),
]


@pytest.mark.parametrize(
    ("fault", "error", "message"), FAULTS, ids=lambda v: getattr(v, "__name__", None)
)
def test_fault_modes_are_classified(
    site: str,
    mock: CityMock,
    keystore: KeyStore,
    fault: FaultSpec,
    error: type[Exception],
    message: str,
) -> None:
    client, _ = make_client(site)
    mock.add_fault(fault)
    with pytest.raises(error, match=message) as caught:
        client.deliver(status_event(keystore))
    assert str(caught.value).startswith("city: deliver: ")


def test_a_replay_keeps_the_message_id_and_the_city_deduplicates_it(
    site: str, mock: CityMock, keystore: KeyStore
) -> None:
    """What `tthc-gateway replay` sends: the stored message, same id, its count signed."""
    from datetime import UTC, datetime

    from gateway.envelope import EnvelopeVerifier, replay_count
    from gateway.flows.delivery import city_handlers
    from gateway.ops.replay import ReplayRequest, replay_envelope

    client, recorder = make_client(site)
    first = status_event(keystore)
    client.deliver(first)
    stored = EnvelopeSigner(keystore).sign(  # the original as the store holds it
        message_id=first.message_id,
        type=first.type,
        recipient="city",
        body=first.body,
        correlation_id=first.correlation_id,
    )
    request = ReplayRequest("os:oncall", "city said it lost it (INC-5)")
    replayed = replay_envelope(EnvelopeSigner(keystore), stored, 1, request, datetime.now(UTC))
    EnvelopeVerifier(keystore).verify(replayed)  # what the worker checks first
    assert replayed.message_id == first.message_id and replay_count(replayed.jws) == 1
    outcome = city_handlers(client)["city.dossier.status_changed"](replayed)
    assert outcome == {"city": "duplicate", "httpStatus": 200}  # the city already had it
    assert mock.deliveries(first.message_id) == 2
    sent = [e for e in recorder.exchanges if e.direction == "out"]
    assert {e.message_id for e in sent} == {first.message_id}


def test_a_replay_count_not_signed_is_refused_by_the_city(
    site: str, mock: CityMock, keystore: KeyStore
) -> None:
    client, _ = make_client(site)
    event = status_event(keystore)
    forged = CityEvent(
        event.message_id, event.type, event.correlation_id, event.body, event.jws, replay_count=3
    )
    with pytest.raises(CityRefused) as refused:
        client.deliver(forged)
    assert refused.value.reason == "replay_mismatch"
