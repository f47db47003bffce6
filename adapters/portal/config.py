"""The portal client's own configuration (filled by the composition root from settings).

Maps one to one to ``adapters.portal`` (``PortalSettings``, ``XRoadSettings``) plus the
city's agency code (``agency.code``, sent as ``madonvi``). The client never reads the
gateway's configuration itself.

Rules: frozen; the password never shows in ``repr``; :meth:`PortalConfig.check` refuses
an unusable combination with :class:`ConfigError` naming the key (``adapters.portal.*``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from adapters.http import HttpConfig
from gateway.domain.errors import ConfigError, IdentifierError
from gateway.domain.identifiers import AgencyCode

Binding = Literal["rest", "soap"]
PARTNER = "portal"


@dataclass(frozen=True)
class XRoadIdentity:
    """The X-Road identifiers of the SOAP header block (client and service members)."""

    instance: str = "VN"
    member_class: str = "GOV"
    member_code: str = "000.00.00.H26"
    subsystem_code: str = "TTHC"
    service_member_class: str = "GOV"
    service_member_code: str = "000.00.00.G22"
    service_subsystem_code: str = "DVCQG"
    service_version: str = "v1"
    user_id: str = "tthc-gateway"


@dataclass(frozen=True)
class PortalConfig:
    """Everything the portal client needs; see the module docstring."""

    url: str  # adapter_url (REST) or the NDXP security server base (SOAP)
    agency_code: str  # madonvi
    binding: Binding = "rest"
    username: str = ""
    password: str = field(default="", repr=False)
    auth_endpoint: str = "/auth"
    integration_endpoint: str = "/integration"
    share_endpoint: str = "/share"
    soap_path: str = "/soap"
    catalogue_cache_seconds: float = 3600.0
    xroad: XRoadIdentity = XRoadIdentity()
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    max_answer_bytes: int = 5_000_000
    ca_bundle: str = ""
    client_cert: str = ""
    client_key: str = ""
    allow_plain_http: bool = False
    failure_threshold: int = 5
    reset_after: float = 10.0
    read_retries: int = 2
    retry_backoff: float = 0.2

    def check(self) -> None:
        """Refuse an unusable configuration, naming the key."""
        if not self.url:
            raise ConfigError("adapters.portal.url: required")
        if self.binding not in ("rest", "soap"):
            raise ConfigError(
                f"adapters.portal.binding: must be rest or soap, not {self.binding!r}"
            )
        try:
            AgencyCode.parse(self.agency_code)
        except IdentifierError as exc:
            raise ConfigError(f"agency.code: {exc.detail}") from None
        if self.binding == "rest" and not (self.username and self.password):
            raise ConfigError(
                "adapters.portal.username and adapters.portal.password: required for the REST binding"
            )
        if self.catalogue_cache_seconds < 0:
            raise ConfigError("adapters.portal.catalogue_cache_seconds: must be >= 0")

    def http_config(self) -> HttpConfig:
        return HttpConfig(
            partner=PARTNER,
            base_url=self.url,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_answer_bytes=self.max_answer_bytes,
            ca_bundle=self.ca_bundle,
            client_cert=self.client_cert,
            client_key=self.client_key,
            allow_plain_http=self.allow_plain_http,
            failure_threshold=self.failure_threshold,
            reset_after=self.reset_after,
            read_retries=self.read_retries,
            retry_backoff=self.retry_backoff,
        )
