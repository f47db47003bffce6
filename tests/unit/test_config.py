"""Configuration layering, validation errors naming key and source, secrets never shown."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.domain.errors import ConfigError

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(REPO_CONFIG, target)
    return target


def test_default_plus_demo(config_dir: Path) -> None:
    settings = load_settings(config_dir, environ={})
    assert settings.env == "demo"
    assert settings.adapters.portal.url == "http://127.0.0.1:8090/portal"
    assert settings.broker.embedded
    assert settings.database.effective_url(settings.var_dir).startswith("sqlite:///")
    assert {k.name for k in settings.api.keys} == {"city-dossier-system", "operator"}


def test_environment_overrides_files(config_dir: Path) -> None:
    settings = load_settings(
        config_dir,
        environ={
            "TTHC_BROKER__URL": "amqp://guest:guest@127.0.0.1:5672/%2F",
            "TTHC_ADAPTERS__POPULATION__URL": "https://lgsp.example.vn/dancu",
            "TTHC_BROKER__RETRY_DELAYS_SECONDS": "[1, 2]",
            "TTHC_HTTP__PORT": "9000",
        },
    )
    assert not settings.broker.embedded
    assert settings.adapters.population.url == "https://lgsp.example.vn/dancu"
    assert settings.broker.retry_delays_seconds == (1, 2)
    assert settings.http.port == 9000


def test_bad_value_names_key_and_variable(config_dir: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir, environ={"TTHC_HTTP__PORT": "eighty"})
    message = str(info.value)
    assert message.startswith("config error: http.port:")
    assert "environment variable TTHC_HTTP__PORT" in message
    assert len(message.splitlines()) == 1


def test_bad_value_in_file_names_the_file(config_dir: Path) -> None:
    (config_dir / "demo.yaml").write_text(
        (config_dir / "demo.yaml").read_text() + "\nagency:\n  code: 000.00.00.h26\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir, environ={})
    message = str(info.value)
    assert "agency.code" in message and "group 4" in message and "demo.yaml" in message


def test_unknown_key_is_refused(config_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"broker\.ulr: unknown key \(from environment variable TTHC_BROKER__ULR\)"):
        load_settings(config_dir, environ={"TTHC_BROKER__ULR": "amqp://x"})


def test_secret_never_in_error_or_repr(config_dir: Path) -> None:
    secret = "s3cr3t-Value-Never-Shown"
    with pytest.raises(ConfigError) as info:
        load_settings(
            config_dir,
            environ={
                "TTHC_EVIDENCE__ENCRYPTION_KEY": secret,
                "TTHC_ADAPTERS__PAYMENT__SECRET": secret,
                "TTHC_API__KEYS": '[{"name": "x", "key_sha256": "' + secret + '", "scopes": ["ops"]}]',
            },
        )
    message = str(info.value)
    assert "evidence.encryption_key" in message and "api.keys.0.key_sha256" in message
    assert secret not in message
    settings = load_settings(config_dir, environ={"TTHC_ADAPTERS__PAYMENT__SECRET": secret})
    assert secret not in repr(settings) and secret not in str(settings)
    assert "demo-portal-password" not in repr(settings)
    assert settings.adapters.payment.secret.get_secret_value() == secret


def test_plain_http_needs_explicit_permission(config_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"adapters\.warehouse.*allow_plain_http"):
        load_settings(
            config_dir,
            environ={
                "TTHC_ADAPTERS__WAREHOUSE__URL": "http://kho.example.vn",
                "TTHC_ADAPTERS__WAREHOUSE__TLS": '{"allow_plain_http": false}',
            },
        )


def test_production_refuses_demo_credentials(config_dir: Path) -> None:
    shutil.copy(config_dir / "demo.yaml", config_dir / "production.yaml")
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir, environ={"TTHC_ENV": "production"})
    message = str(info.value)
    assert "adapters.portal.password" in message and "api.keys.city-dossier-system" in message
    assert "demo-portal-password" not in message


def test_production_example_loads_without_demo_values(config_dir: Path) -> None:
    shutil.copy(config_dir / "production.example.yaml", config_dir / "production.yaml")
    settings = load_settings(config_dir, environ={"TTHC_ENV": "production"})
    assert settings.adapters.portal.binding == "soap" and settings.logging.format == "json"


def test_unknown_environment_and_broken_yaml(config_dir: Path) -> None:
    with pytest.raises(ConfigError, match="TTHC_ENV='staging': no file"):
        load_settings(config_dir, environ={"TTHC_ENV": "staging"})
    (config_dir / "demo.yaml").write_text("http: [unclosed\n")
    with pytest.raises(ConfigError, match=r"demo\.yaml line \d+: not valid YAML"):
        load_settings(config_dir, environ={})


def test_the_broker_url_may_name_every_node_of_a_cluster() -> None:
    from pydantic import ValidationError

    from gateway.messaging.rabbitmq import broker_urls
    from gateway.settings_model import BrokerSettings

    nodes = "amqp://u:p@rabbit-1:5672/%2F, amqp://u:p@rabbit-2:5672/%2F,amqps://u:p@rabbit-3/%2F"
    assert not BrokerSettings(url=nodes).embedded  # type: ignore[arg-type]
    assert broker_urls(nodes) == [
        "amqp://u:p@rabbit-1:5672/%2F",
        "amqp://u:p@rabbit-2:5672/%2F",
        "amqps://u:p@rabbit-3/%2F",
    ]
    with pytest.raises(ValidationError) as refused:
        BrokerSettings(url="amqp://u:p@a/%2F,http://u:secret@b/")  # type: ignore[arg-type]
    message = refused.value.errors()[0]["msg"]  # what the config loader prints per key
    assert "amqp://" in message and "'b/'" in message and "secret" not in message
