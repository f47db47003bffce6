"""The per-app runtime handlers reach through a context variable, and the request's context.

Rules:
- No module-level state: each ``create_app`` builds one :class:`ApiRuntime`; the
  outermost middleware binds it, with the request's correlation id, for the duration of
  each request (:func:`bound_to`), so two apps in one process (tests) never see each
  other's services.
- Handlers call :func:`services`, :func:`correlation_id`, :func:`call_context` and
  :func:`require`; they never import the composition root. What a flow answers comes back
  as its return value, never through a context variable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from connexion.context import context as connexion_context
from connexion.context import request as connexion_request

from gateway.api.services import ApiServices
from gateway.domain.errors import GatewayError
from gateway.flows.ports import CallContext

if TYPE_CHECKING:
    from gateway.api.metrics import HttpMetrics
    from gateway.api.readiness import Readiness
    from gateway.api.security import KeyRing

T = TypeVar("T")


class NotConfigured(GatewayError):
    """The part of the gateway an operation needs is not wired in this process."""

    status = 503
    code = "not_configured"


@dataclass(frozen=True)
class ApiRuntime:
    services: ApiServices
    operation_scopes: Mapping[str, frozenset[str]]
    key_ring: KeyRing
    metrics: HttpMetrics
    readiness: Readiness


_runtime: ContextVar[ApiRuntime] = ContextVar("tthc_api_runtime")
_correlation_id: ContextVar[str] = ContextVar("tthc_correlation_id", default="")


@contextmanager
def bound_to(runtime: ApiRuntime, correlation_id: str) -> Iterator[None]:
    """``runtime`` and ``correlation_id`` are the request's for the block (the middleware's)."""
    runtime_token = _runtime.set(runtime)
    correlation_token = _correlation_id.set(correlation_id)
    try:
        yield
    finally:
        _correlation_id.reset(correlation_token)
        _runtime.reset(runtime_token)


def current_runtime() -> ApiRuntime:
    try:
        return _runtime.get()
    except LookupError:
        raise RuntimeError("no API runtime: called outside a request of a create_app app") from None


def services() -> ApiServices:
    return current_runtime().services


def correlation_id() -> str:
    return _correlation_id.get()


def require(port: T | None, what: str) -> T:
    """The port, or a ``503 not_configured`` problem naming what is missing."""
    if port is None:
        raise NotConfigured(f"{what} is not configured in this gateway process")
    return port


def _token_info() -> Mapping[str, Any]:
    try:
        info = connexion_context.get("token_info")
    except RuntimeError:
        return {}
    return info if isinstance(info, Mapping) else {}


def call_context() -> CallContext:
    """The request's :class:`CallContext` (caller from the API key, correlation id, ...)."""
    caller = _token_info().get("caller")
    request = connexion_request
    client = request.client
    return CallContext(
        correlation_id=correlation_id(),
        caller=caller if isinstance(caller, str) else None,
        idempotency_key=request.headers.get("idempotency-key"),
        client_ip=client.host if client else None,
    )
