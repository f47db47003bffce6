"""The gateway's HTTP API: connexion ``AsyncApp`` over ``contracts/gateway/openapi.yaml``.

Public surface: :func:`create_app`, :class:`ApiServices` and what it holds
(:class:`ApiKey`, :class:`ReadinessCheck`) and the ports in :mod:`gateway.flows.ports`.
"""

from __future__ import annotations

from gateway.api.app import create_app
from gateway.api.services import ApiKey, ApiServices, ReadinessCheck

__all__ = [
    "ApiKey",
    "ApiServices",
    "ReadinessCheck",
    "create_app",
]
