"""What the HTTP API needs from the rest of the gateway, in one frozen bundle.

Rules:
- :class:`ApiServices` holds plain values and ports, never settings objects: the
  composition root reads ``gateway.config`` and builds it; tests build it directly.
- A port (or flow bundle) left ``None`` is "not configured": its operations answer a
  ``503`` problem with code ``not_configured``, never a fake success. Without
  ``idempotency`` the ``Idempotency-Key`` header is validated but not acted on.
- ``dossiers`` and ``callbacks`` are not ports but what their flow functions are given
  (a unit of work factory, the signer, ...): those handlers call the flow functions.
- API keys are configured as lowercase hex SHA-256 digests, never in clear.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from gateway.domain.errors import ConfigError
from gateway.flows.dossiers import DossierFlows
from gateway.flows.idempotency import IdempotencyPort
from gateway.flows.ports import (
    CallbackFlows,
    CitizenPort,
    DocumentPort,
    MessagePort,
    PaymentPort,
    PortalPushVerifier,
    ProcedurePort,
)

SCOPES = frozenset({"dossiers", "citizens", "payments", "documents", "ops"})
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

ReadinessProbe = Callable[[], Awaitable[object]] | Callable[[], object]
"""A check: returns (anything) when ready, raises when not. Sync probes run in a thread."""


@dataclass(frozen=True)
class ApiKey:
    """One caller: its name, the SHA-256 hex digest of its key, and its scopes."""

    name: str
    key_sha256: str
    scopes: frozenset[str]

    def __post_init__(self) -> None:
        if not _SHA256_HEX.fullmatch(self.key_sha256):
            raise ConfigError(f"api key {self.name!r}: key_sha256 must be 64 lowercase hex digits")
        unknown = set(self.scopes) - SCOPES
        if unknown:
            raise ConfigError(f"api key {self.name!r}: unknown scope(s) {sorted(unknown)}")

    @classmethod
    def from_config(cls, entry: Any) -> ApiKey:
        """From one configured key ``{name, key_sha256, scopes}``: a mapping or a settings
        object; a secret wrapper (``get_secret_value``) is unwrapped."""

        def field_of(name: str) -> Any:
            value = entry[name] if isinstance(entry, Mapping) else getattr(entry, name)
            reveal = getattr(value, "get_secret_value", None)
            return reveal() if callable(reveal) else value

        return cls(
            name=str(field_of("name")),
            key_sha256=str(field_of("key_sha256")),
            scopes=frozenset(str(scope) for scope in field_of("scopes")),
        )


@dataclass(frozen=True)
class ReadinessCheck:
    """One named readiness probe with its own timeout (seconds)."""

    name: str
    probe: ReadinessProbe
    timeout: float = 1.0


@dataclass(frozen=True)
class ApiServices:
    """Everything the handlers and the middleware use."""

    api_keys: Sequence[ApiKey] = ()
    max_body_bytes: int = 1_048_576
    metrics_registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    readiness_checks: Sequence[ReadinessCheck] = ()
    readiness_cache_seconds: float = 2.0
    jwks_provider: Callable[[], Mapping[str, Any]] | None = None
    portal_push: PortalPushVerifier | None = None
    payment_callback_allowlist: Sequence[str] = ()
    dossiers: DossierFlows | None = None
    procedures: ProcedurePort | None = None
    citizens: CitizenPort | None = None
    payments: PaymentPort | None = None
    documents: DocumentPort | None = None
    messages: MessagePort | None = None
    callbacks: CallbackFlows | None = None
    idempotency: IdempotencyPort | None = None

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ConfigError("http.max_body_bytes must be positive")
        for network in self.payment_callback_allowlist:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ConfigError(
                    f"payment callback allowlist: {network!r} is not an IP network"
                ) from None
        names = [key.name for key in self.api_keys]
        if len(names) != len(set(names)):
            raise ConfigError("api.keys: caller names must be unique")
