"""The metrics as Prometheus scrapes them: GET /metrics of the real app, and the worker's server."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from test_metrics_store import SYNC, accept, park

from gateway.api import ApiServices, create_app
from gateway.metrics import PartnerCallMetrics, register_store_metrics, start_metrics_server
from gateway.testing import LocalStack, local_stack

warnings.filterwarnings("ignore", message=".*httpx.*")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    stack = local_stack(tmp_path)
    yield stack
    stack.evidence.close()
    stack.engine.dispose()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_endpoint_exposes_store_partner_and_http_metrics(stack: LocalStack) -> None:
    registry = CollectorRegistry()
    register_store_metrics(registry, stack.engine)
    partner_calls = PartnerCallMetrics(registry)
    park(stack.store, accept(stack.store, SYNC))
    accept(stack.store, SYNC)
    partner_calls.observe("portal", "dongBoHoSo", "timeout", 3.2)

    app = create_app(ApiServices(metrics_registry=registry), validate_responses=True)
    with TestClient(app) as client:
        client.get("/healthz")
        answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    found = samples(answer.text)

    assert found[("tthc_messages", (("status", "parked"), ("type", SYNC)))] == 1
    assert found[("tthc_messages", (("status", "accepted"), ("type", SYNC)))] == 1
    assert found[("tthc_messages_parked", (("type", SYNC),))] == 1
    assert found[("tthc_message_events_total", (("event", "parked"), ("type", SYNC)))] == 1
    assert found[("tthc_message_events_total", (("event", "accepted"), ("type", SYNC)))] == 2
    assert found[("tthc_outbox_pending", ())] == 2
    assert found[("tthc_outbox_lag_seconds", ())] >= 0
    timeout = (("operation", "dongBoHoSo"), ("outcome", "timeout"), ("partner", "portal"))
    assert found[("tthc_partner_calls_total", timeout)] == 1
    latency = (("operation", "dongBoHoSo"), ("partner", "portal"))
    assert found[("tthc_partner_call_duration_seconds_sum", latency)] == pytest.approx(3.2)
    healthz = (("method", "GET"), ("operation", "ops.healthz"), ("status", "200"))
    assert found[("tthc_http_requests_total", healthz)] == 1


def test_worker_metrics_server_serves_the_registry(stack: LocalStack) -> None:
    registry = CollectorRegistry()
    PartnerCallMetrics(registry).observe("city", "deliver", "ok", 0.01)
    server, thread = start_metrics_server(registry, "127.0.0.1", 0)
    try:
        answer = requests.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    thread.join(timeout=5)
    assert answer.status_code == 200
    ok = (("operation", "deliver"), ("outcome", "ok"), ("partner", "city"))
    assert samples(answer.text)[("tthc_partner_calls_total", ok)] == 1
