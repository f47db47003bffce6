"""The city client delivering signed events to the city mock, in-process and over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from adapters.city.client import CityClient, CityConfig, CityEvent, CityRefused
from adapters.http import HttpConfig
from gateway.domain.errors import UpstreamMalformed, UpstreamTimeout, UpstreamUnavailable
from gateway.domain.exchange import ListRecorder
from gateway.envelope import EnvelopeSigner
from gateway.keys import KeyStore
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


def make_client(base: str) -> tuple[CityClient, ListRecorder]:
    recorder = ListRecorder()
    http = HttpConfig(
        "city",
        base,
        connect_timeout=1.0,
        read_timeout=1.0,  # under the mock's HANG_SECONDS (1.5), above a slow machine's first call
        allow_plain_http=True,
        max_answer_bytes=50_000,
    )
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
    with pytest.raises(CityRefused, match=r"HTTP 409 \(message_id_reused\)"):
        client.deliver(status_event(keystore, status="5", message_id=first.message_id))


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
