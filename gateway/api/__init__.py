"""The gateway's HTTP API: connexion ``AsyncApp`` over ``contracts/gateway/openapi.yaml``.

Public surface: :func:`create_app`, :class:`ApiServices` and what it holds
(:class:`ApiKey`, :class:`ReadinessCheck`, :class:`PortalPushConfig`), the ports in
:mod:`gateway.api.ports`, and :class:`InMemoryNonceStore`.
"""

from __future__ import annotations

from gateway.api.app import create_app
from gateway.api.portal_push import InMemoryNonceStore, portal_signature
from gateway.api.services import ApiKey, ApiServices, PortalPushConfig, ReadinessCheck

__all__ = [
    "ApiKey",
    "ApiServices",
    "InMemoryNonceStore",
    "PortalPushConfig",
    "ReadinessCheck",
    "create_app",
    "portal_signature",
]
