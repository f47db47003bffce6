"""Partner calls: PartnerHttp's outcome classification, and the Prometheus observer the
composition root gives every partner's HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import responses

from adapters.city.client import CityEvent
from adapters.http import CallOutcome, HttpConfig, PartnerHttp
from gateway.bootstrap import Gateway, build
from gateway.config import load_settings
from gateway.metrics import PartnerCallMetrics
from gateway.testing.recorders import ListRecorder

REPO = Path(__file__).resolve().parents[3]
BASE = "https://partner.test/api"
CITY = "http://city.test"
MESSAGE_ID = "0b6a1f6e-3c1d-4f7a-9d39-2f1c5e8a7b10"


class Seen:
    """An observer that remembers what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, CallOutcome, float]] = []

    def observe(self, partner: str, operation: str, outcome: CallOutcome, seconds: float) -> None:
        self.calls.append((partner, operation, outcome, seconds))


def make(observer: object, **overrides: object) -> PartnerHttp:
    settings: dict[str, object] = {
        "partner": "payment",
        "base_url": BASE,
        "max_answer_bytes": 1000,
        "retry_backoff": 0.0,
        "failure_threshold": 100,
    }
    settings.update(overrides)
    return PartnerHttp(
        HttpConfig(**settings),  # type: ignore[arg-type]
        ListRecorder(),
        sleep=lambda _: None,
        observer=observer,  # type: ignore[arg-type]
    )


@responses.activate
@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        ({"status": 200, "body": b"{}"}, "ok"),
        ({"status": 503}, "unavailable"),
        ({"status": 429}, "unavailable"),
        ({"status": 404}, "rejected"),
        ({"status": 302}, "malformed"),
        ({"status": 200, "body": b"x" * 2000}, "malformed"),
        ({"body": requests.exceptions.ReadTimeout()}, "timeout"),
        ({"body": requests.exceptions.ConnectionError()}, "unavailable"),
        ({"body": RuntimeError("bug")}, "error"),
    ],
)
def test_each_call_is_reported_once_with_its_outcome(
    answer: dict[str, object], outcome: CallOutcome
) -> None:
    responses.add("POST", f"{BASE}/op", **answer)  # type: ignore[arg-type]
    seen = Seen()
    http = make(seen)
    try:
        http.send("POST", "/op", operation="INIT", idempotent=True)
    except Exception:  # noqa: BLE001 - the outcome is what is checked
        pass
    assert [(p, o, out) for p, o, out, _ in seen.calls] == [("payment", "INIT", outcome)]
    assert seen.calls[0][3] >= 0


@responses.activate
def test_retries_are_one_call_and_an_open_circuit_is_its_own_outcome() -> None:
    responses.add("GET", f"{BASE}/status", status=503)
    seen = Seen()
    http = make(seen, failure_threshold=3, read_retries=2)
    with pytest.raises(Exception, match="HTTP 503"):
        http.send("GET", "/status", operation="QUERY", idempotent=True)
    assert len(responses.calls) == 3  # three attempts...
    assert [c[2] for c in seen.calls] == ["unavailable"]  # ...one call observed
    with pytest.raises(Exception, match="circuit"):
        http.send("GET", "/status", operation="QUERY", idempotent=True)
    assert [c[2] for c in seen.calls] == ["unavailable", "circuit_open"]
    assert len(responses.calls) == 3


@responses.activate
def test_a_failing_observer_never_fails_the_call() -> None:
    class Broken:
        def observe(self, *args: object) -> None:
            raise RuntimeError("metrics backend gone")

    responses.add("POST", f"{BASE}/op", body=b"{}")
    assert make(Broken()).send("POST", "/op", operation="INIT").status == 200


# ---- the observer the composition root gives every partner's HTTP ------------------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    var = tmp_path_factory.mktemp("partner-calls")
    environ = {
        "TTHC_VAR_DIR": str(var),
        "TTHC_KEYS__DIRECTORY": str(var / "keys"),
        "TTHC_EVIDENCE__TSA_URL": "",
        "TTHC_ADAPTERS__CITY__URL": CITY,
    }
    built = build(load_settings(REPO / "config", environ=environ))
    yield built
    built.close()


@pytest.mark.parametrize("partner", ["portal", "payment", "population", "warehouse", "city"])
def test_every_partner_http_reports_to_the_process_metrics(gateway: Gateway, partner: str) -> None:
    http: PartnerHttp = getattr(gateway, f"{partner}_http")
    assert http.partner == partner
    assert isinstance(gateway.partner_calls, PartnerCallMetrics)
    assert http.observer is gateway.partner_calls  # the process's one observer


@responses.activate
def test_prometheus_observer_on_the_wired_city_client(gateway: Gateway) -> None:
    """A city delivery through the gateway's own CityClient lands in its ``/metrics``
    registry (``gateway.metrics``), with no observer attached by hand."""
    responses.add(
        "POST",
        f"{CITY}/events",
        status=202,
        json={"messageId": MESSAGE_ID, "status": "accepted", "receivedAt": "2026-11-27T04:00:00Z"},
    )
    responses.add("POST", f"{CITY}/events", status=500)
    event = CityEvent(
        message_id=MESSAGE_ID,
        type="city.dossier.submitted",
        correlation_id="c-1",
        body=b"{}",
        jws="h..s",
    )
    gateway.city.deliver(event)
    with pytest.raises(Exception, match="HTTP 500"):
        gateway.city.deliver(event)

    def sample(name: str, **labels: str) -> float | None:
        return gateway.metrics.get_sample_value(name, labels)

    operation = "deliver"
    ok = {"partner": "city", "operation": operation, "outcome": "ok"}
    assert sample("tthc_partner_calls_total", **ok) == 1
    assert sample("tthc_partner_calls_total", **(ok | {"outcome": "unavailable"})) == 1
    count = sample("tthc_partner_call_duration_seconds_count", partner="city", operation=operation)
    assert count == 2
