"""The typed shape of the configuration (validated by :mod:`gateway.config`).

Rules: every section forbids unknown keys; every model is frozen; every secret is a
``SecretStr`` so it never shows in ``repr``, logs or error messages. URLs of the broker
and database are secrets too (they may carry passwords). Defaults here are the
embedded single-machine defaults; ``config/default.yaml`` documents each key.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from gateway.domain.errors import IdentifierError
from gateway.domain.identifiers import AgencyCode

Scope = Literal["dossiers", "citizens", "payments", "documents", "ops"]

#: Values published in the README for the demo; refused in production.
DEMO_SECRETS = frozenset(
    {
        "demo-portal-password",
        "demo-payment-secret",
        "demo-population-secret",
        "demo-population-api-key",
        "demo-portal-callback-secret",
        "demo-lgsp-secret",
        "dHRoYy1kZW1vLWV2aWRlbmNlLWtleS1OT1RTRUNSRVQ=",
    }
)
DEMO_API_KEYS = frozenset({"demo-city-key", "demo-ops-key"})
_DEMO_KEY_HASHES = {hashlib.sha256(k.encode()).hexdigest() for k in DEMO_API_KEYS}


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    max_body_bytes: int = Field(1_048_576, ge=1024)
    validate_responses: bool = False
    swagger_ui: bool = False  # /ui (the OpenAPI console): on in the demo only
    # /metrics of serve/run on its own internal listener (0: none); never the API's port
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9107, ge=0, le=65535)
    # /metrics on the API's port too: off, or behind an API key with the ops scope
    metrics_on_api: Literal["off", "ops"] = "off"
    # the store's figures are computed at most once per this many seconds, off the scrape
    metrics_cache_seconds: float = Field(5, ge=0, le=300)

    @model_validator(mode="after")
    def _metrics_port_apart(self) -> HttpSettings:
        if self.metrics_port and self.metrics_port == self.port:
            raise ValueError("metrics_port must differ from port (metrics are internal)")
        return self


class DatabaseSettings(Section):
    url: SecretStr = SecretStr("")
    pool_size: int = Field(10, ge=1, le=200)

    def effective_url(self, var_dir: Path) -> str:
        """The configured URL, or SQLite under ``var/`` when none is set."""
        value = self.url.get_secret_value()
        return value or f"sqlite:///{(var_dir / 'tthc.sqlite').as_posix()}"


class BrokerSettings(Section):
    url: SecretStr = SecretStr("")
    topology_prefix: str = Field("tthc", pattern=r"^[a-z][a-z0-9_.-]{0,40}$")
    prefetch: int = Field(64, ge=1, le=10_000)
    heartbeat_seconds: int = Field(30, ge=0, le=600)
    blocked_connection_timeout_seconds: float = Field(60, gt=0)
    retry_delays_seconds: tuple[float, ...] = (5, 30, 300, 1800)
    max_attempts: int = Field(5, ge=1, le=100)
    retry_budget_seconds: float = Field(86_400, gt=0)  # a partner down this long: then parked
    # RabbitMQ only: the re-drive from the store (gateway.messaging.redrive) runs this often
    # and publishes again a message whose delay tier is this much past its due time
    redrive_interval_seconds: float = Field(15, gt=0)
    redrive_grace_seconds: float = Field(30, gt=0)

    @field_validator("url")
    @classmethod
    def _amqp_urls(cls, value: SecretStr) -> SecretStr:
        """Empty (embedded), or one or more comma-separated amqp(s):// URLs (cluster nodes)."""
        for url in filter(None, (part.strip() for part in value.get_secret_value().split(","))):
            if not url.startswith(("amqp://", "amqps://")):
                host = url.rsplit("@", 1)[-1][:60]  # never the credentials
                raise ValueError(f"each URL must be amqp:// or amqps://, not {host!r}")
        return value

    @property
    def embedded(self) -> bool:
        return not self.url.get_secret_value().strip()


class KeySettings(Section):
    directory: Path = Path("var/keys")
    algorithm: Literal["ES256", "EdDSA"] = "ES256"
    retention_days: int = Field(90, ge=1)
    max_message_age_seconds: int = Field(30 * 86400, ge=60)
    clock_skew_seconds: int = Field(60, ge=0, le=3600)


class EvidenceSettings(Section):
    encryption_key: SecretStr = SecretStr("")
    checkpoint_every_records: int = Field(1000, ge=1)
    checkpoint_every_seconds: float = Field(60, gt=0)
    # a chain left uncovered this long (its writer died) is sealed by another process
    seal_after_seconds: float = Field(300, gt=0)
    # where checkpoint hashes are anchored, outside the database (default: <var_dir>/anchors)
    anchor_dir: Path | None = None
    # RFC 3161 time-stamping authority; empty: checkpoints are not time-stamped
    tsa_url: str = ""
    # PEM bundle the TSA's tokens must chain to (default: <var_dir>/tsa/tsa.pem)
    tsa_certificate: Path | None = None
    tsa_timeout_seconds: float = Field(5, gt=0, le=60)
    tsa_retry_seconds: float = Field(60, gt=0)

    @field_validator("encryption_key")
    @classmethod
    def _aes_key(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw and not _is_32_byte_base64(raw):
            raise ValueError("must be 32 bytes, base64-encoded (AES-256-GCM key)")
        return value

    @field_validator("tsa_url")
    @classmethod
    def _tsa_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (RFC 3161 over HTTP)")
        return value

    @model_validator(mode="after")
    def _seal_after_checkpoints(self) -> EvidenceSettings:
        if self.seal_after_seconds <= self.checkpoint_every_seconds:
            raise ValueError(
                "seal_after_seconds must be more than checkpoint_every_seconds (a live"
                " writer checkpoints its own chain first)"
            )
        return self

    def effective_anchor_dir(self, var_dir: Path) -> Path:
        return self.anchor_dir or var_dir / "anchors"

    def effective_tsa_certificate(self, var_dir: Path) -> Path:
        return self.tsa_certificate or var_dir / "tsa" / "tsa.pem"


def _is_32_byte_base64(raw: str) -> bool:
    try:
        return len(base64.b64decode(raw, validate=True)) == 32
    except ValueError:
        return False


class ApiKeyEntry(Section):
    name: str = Field(min_length=1, max_length=64)
    key_sha256: SecretStr
    scopes: tuple[Scope, ...]

    @field_validator("key_sha256")
    @classmethod
    def _hex_digest(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"[0-9a-f]{64}", value.get_secret_value()):
            raise ValueError("must be the lowercase hex SHA-256 of the key, not the key itself")
        return value


class ApiSettings(Section):
    keys: tuple[ApiKeyEntry, ...] = ()
    idempotency_ttl_hours: int = Field(24, ge=1)

    def demo_key_names(self) -> list[str]:
        return [k.name for k in self.keys if k.key_sha256.get_secret_value() in _DEMO_KEY_HASHES]


class AgencySettings(Section):
    code: str = "000.00.00.H26"
    name: str = "UBND Thành phố Hà Nội"

    @field_validator("code")
    @classmethod
    def _agency(cls, value: str) -> str:
        try:
            return AgencyCode.parse(value).value
        except IdentifierError as exc:
            raise ValueError(exc.detail) from None


class TlsSettings(Section):
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    allow_plain_http: bool = False


class PartnerSettings(Section):
    url: str = ""
    timeout_connect_seconds: float = Field(3.05, gt=0, le=60)
    timeout_read_seconds: float = Field(10, gt=0, le=300)
    max_answer_bytes: int = Field(5_000_000, ge=1024)
    circuit_failure_threshold: int = Field(5, ge=1)
    circuit_reset_seconds: float = Field(10, gt=0)  # open this long, then one trial call
    tls: TlsSettings = TlsSettings()

    @model_validator(mode="after")
    def _transport_security(self) -> PartnerSettings:
        if self.url.startswith("http://") and not self.tls.allow_plain_http:
            raise ValueError("plain http:// needs tls.allow_plain_http: true (mocks only)")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must start with https:// (or http:// for mocks)")
        return self


class XRoadSettings(Section):
    instance: str = "VN"
    member_class: str = "GOV"
    member_code: str = "000.00.00.H26"
    subsystem_code: str = "TTHC"
    service_member_class: str = "GOV"
    service_member_code: str = "000.00.00.G22"
    service_subsystem_code: str = "DVCQG"
    service_version: str = "v1"
    user_id: str = "tthc-gateway"


class PortalSettings(PartnerSettings):
    binding: Literal["rest", "soap"] = "rest"
    username: str = ""
    password: SecretStr = SecretStr("")
    auth_endpoint: str = "/auth"
    integration_endpoint: str = "/integration"
    share_endpoint: str = "/share"
    soap_path: str = "/soap"
    catalogue_cache_seconds: float = Field(3600, ge=0)
    xroad: XRoadSettings = XRoadSettings()


class PaymentSettings(PartnerSettings):
    partner_code: str = ""
    secret: SecretStr = SecretStr("")
    scheme: Literal["sha256-suffix", "hmac-sha256"] = "sha256-suffix"
    callback_allowlist: tuple[str, ...] = ()
    # the agency's treasury account, used when a payment request names none
    beneficiary_account: str = Field("", pattern=r"^([0-9]{6,30})?$")
    beneficiary_bank: str = Field("", pattern=r"^([0-9A-Za-z]{2,20})?$")
    beneficiary_name: str = Field("", max_length=255)
    reconcile_interval_seconds: float = Field(1800, gt=0)
    reconcile_min_age_seconds: float = Field(1800, ge=0)
    reconcile_max_age_seconds: float = Field(3 * 86400, gt=0)


class PopulationSettings(PartnerSettings):
    auth: Literal["direct", "lgsp"] = "direct"
    username: str = ""
    secret: SecretStr = SecretStr("")
    api_key: SecretStr = SecretStr("")
    token_url: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    service_code: str = Field("", max_length=20)
    officer_code: str = Field("tthc-gateway", max_length=20)


class WarehouseSettings(PartnerSettings):
    max_file_bytes: int = Field(10_000_000, ge=1024)
    # an answer carries the file base64-encoded (4/3 of its size) plus the JSON around it
    max_answer_bytes: int = Field(14_000_000, ge=1024)

    @model_validator(mode="after")
    def _answer_holds_file(self) -> WarehouseSettings:
        if self.max_answer_bytes < self.max_file_bytes * 4 // 3 + 4096:
            raise ValueError("max_answer_bytes must hold a base64 file of max_file_bytes")
        return self


class AdaptersSettings(Section):
    portal: PortalSettings = PortalSettings()
    payment: PaymentSettings = PaymentSettings()
    population: PopulationSettings = PopulationSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    city: PartnerSettings = PartnerSettings()


class CallbackSettings(Section):
    portal_secret: SecretStr = SecretStr("")
    portal_window_seconds: int = Field(300, ge=1, le=3600)


class MocksSettings(Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8090, ge=1, le=65535)
    auto_pay_seconds: float | None = None


class LoggingSettings(Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class WorkerSettings(Section):
    message_types: tuple[str, ...] = ()
    consumer_name: str = "tthc-worker"
    relay_batch_size: int = Field(200, ge=1, le=10_000)
    max_batch: int = Field(100, ge=1, le=10_000)
    completion: Literal["group", "each", "batch"] = "group"
    concurrency: int = Field(8, ge=1, le=256)  # handlers side by side, one lane per dossier
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9108, ge=0, le=65535)  # 0: no metrics server in the worker
    lease_seconds: float = Field(60, gt=0, le=86_400)  # a claim's lease, renewed by heartbeats
    heartbeat_seconds: float = Field(2, gt=0, le=300)
    dead_after_seconds: float = Field(10, gt=0, le=3600)  # no heartbeat this long: dead

    @model_validator(mode="after")
    def _liveness_margins(self) -> WorkerSettings:
        if self.dead_after_seconds < 2 * self.heartbeat_seconds:
            raise ValueError("dead_after_seconds must be at least twice heartbeat_seconds")
        if self.lease_seconds <= 2 * self.heartbeat_seconds:
            raise ValueError("lease_seconds must be more than twice heartbeat_seconds")
        return self


class Settings(Section):
    env: str = "demo"
    var_dir: Path = Path("var")
    http: HttpSettings = HttpSettings()
    database: DatabaseSettings = DatabaseSettings()
    broker: BrokerSettings = BrokerSettings()
    keys: KeySettings = KeySettings()
    evidence: EvidenceSettings = EvidenceSettings()
    api: ApiSettings = ApiSettings()
    agency: AgencySettings = AgencySettings()
    adapters: AdaptersSettings = AdaptersSettings()
    callbacks: CallbackSettings = CallbackSettings()
    mocks: MocksSettings = MocksSettings()
    logging: LoggingSettings = LoggingSettings()
    worker: WorkerSettings = WorkerSettings()

    def secret_items(self) -> Iterator[tuple[tuple[str, ...], str]]:
        """Every secret leaf as (path, clear value), for the production demo-secret check."""
        yield from _secrets(self, ())


def _secrets(model: BaseModel, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            yield (*path, name), value.get_secret_value()
        elif isinstance(value, BaseModel):
            yield from _secrets(value, (*path, name))
