"""HTTP metrics of the API, registered in the registry the composition root passes in.

Rules: labels stay low-cardinality: ``operation`` is the handler's short name
(``dossiers.sync_dossier``) or ``unrouted`` for paths outside the contract, never a raw
path with identifiers in it; ``status`` is the numeric status code.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

HANDLER_PREFIX = "gateway.api.handlers."
UNROUTED = "unrouted"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def operation_label(operation_id: str | None) -> str:
    if not operation_id:
        return UNROUTED
    return operation_id.removeprefix(HANDLER_PREFIX)


class HttpMetrics:
    """``tthc_http_requests_total`` and ``tthc_http_request_duration_seconds``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "tthc_http_requests",
            "HTTP requests served, by operation, method and status.",
            ("operation", "method", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "tthc_http_request_duration_seconds",
            "Time to answer an HTTP request, by operation.",
            ("operation",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, operation_id: str | None, method: str, status: int, seconds: float) -> None:
        operation = operation_label(operation_id)
        self.requests.labels(operation, method, str(status)).inc()
        self.latency.labels(operation).observe(seconds)
