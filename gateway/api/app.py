"""``create_app``: the connexion ``AsyncApp`` serving ``contracts/gateway/openapi.yaml``.

Rules:
- The contract is the router: every operation resolves to
  ``gateway.api.handlers.<module>.<function>`` by its ``operationId``.
- Strict request validation always (unknown query parameters refused, bodies closed by
  the contract); response validation is switchable (on in tests).
- One app, one :class:`ApiRuntime`; nothing is kept in module globals.
- Swagger UI (``/ui``) is served only when asked (``http.swagger_ui``: the demo).
- ``GET /metrics`` on the API's port (``metrics_access``): ``public`` as the contract
  writes it (the library default, for tests), ``ops`` behind an API key with the ``ops``
  scope, ``off`` not served (404). The processes pass ``http.metrics_on_api`` (default
  ``off``) and serve the metrics on their internal listener (:mod:`gateway.process`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import connexion
from connexion.middleware import MiddlewarePosition

from gateway.api.errors import HANDLERS
from gateway.api.idempotency import IdempotencyMiddleware
from gateway.api.metrics import HttpMetrics
from gateway.api.middleware import GatewayMiddleware
from gateway.api.readiness import Readiness
from gateway.api.runtime import ApiRuntime
from gateway.api.security import KeyRing
from gateway.api.services import ApiServices
from gateway.api.spec import SPEC_PATH, load_served_spec, load_spec
from gateway.api.validation import validator_map

__all__ = [
    "HTTP_METHODS",
    "SPEC_PATH",
    "MetricsAccess",
    "create_app",
    "load_spec",
    "operation_scopes",
    "with_metrics_access",
]

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
METRICS_PATH = "/metrics"
MetricsAccess = Literal["public", "ops", "off"]


def operation_scopes(spec: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """``operationId`` → the scopes its ``x-scopes`` requires."""
    scopes: dict[str, frozenset[str]] = {}
    for item in spec["paths"].values():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is not None:
                scopes[operation["operationId"]] = frozenset(operation.get("x-scopes", ()))
    return scopes


def with_metrics_access(spec: dict[str, Any], access: MetricsAccess) -> dict[str, Any]:
    """``spec`` with ``GET /metrics`` served as ``access`` says (see the module rules)."""
    if access == "public" or METRICS_PATH not in spec["paths"]:
        return spec
    paths = dict(spec["paths"])
    if access == "off":
        del paths[METRICS_PATH]
    else:
        item = dict(paths[METRICS_PATH])
        item["get"] = item["get"] | {"security": [{"ApiKey": []}], "x-scopes": ["ops"]}
        paths[METRICS_PATH] = item
    return spec | {"paths": paths}


def create_app(
    services: ApiServices,
    *,
    validate_responses: bool = False,
    spec_path: Path = SPEC_PATH,
    swagger_ui: bool = False,
    metrics_access: MetricsAccess = "public",
) -> connexion.AsyncApp:
    """The gateway's HTTP API, wired to ``services``."""
    spec = with_metrics_access(load_served_spec(spec_path), metrics_access)
    runtime = ApiRuntime(
        services=services,
        operation_scopes=operation_scopes(spec),
        key_ring=KeyRing(services.api_keys),
        metrics=HttpMetrics(services.metrics_registry),
        readiness=Readiness(services.readiness_checks, services.readiness_cache_seconds),
    )
    app = connexion.AsyncApp(__name__)
    app.add_api(
        spec,
        strict_validation=True,
        validate_responses=validate_responses,
        pythonic_params=True,
        validator_map=validator_map(),
        swagger_ui_options=connexion.options.SwaggerUIOptions(swagger_ui=swagger_ui),
    )
    for exception_class, handler in HANDLERS:
        app.add_error_handler(exception_class, handler)
    app.add_middleware(
        GatewayMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION, runtime=runtime
    )
    app.add_middleware(
        IdempotencyMiddleware, position=MiddlewarePosition.BEFORE_VALIDATION, runtime=runtime
    )
    return app
