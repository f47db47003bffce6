"""ApiServices and ApiKey: built from the configuration shape, refusing bad values at start-up."""

from __future__ import annotations

import hashlib

import pytest

from gateway.api import ApiKey, ApiServices
from gateway.domain.errors import ConfigError
from gateway.settings_model import ApiKeyEntry

DIGEST = hashlib.sha256(b"demo-city-key").hexdigest()


def test_api_key_from_a_settings_entry_unwraps_the_secret() -> None:
    entry = ApiKeyEntry(name="city-one-stop", key_sha256=DIGEST, scopes=("dossiers", "citizens"))
    key = ApiKey.from_config(entry)
    assert key == ApiKey("city-one-stop", DIGEST, frozenset({"dossiers", "citizens"}))


def test_api_key_from_a_mapping() -> None:
    key = ApiKey.from_config({"name": "operator", "key_sha256": DIGEST, "scopes": ["ops"]})
    assert key.scopes == frozenset({"ops"})


@pytest.mark.parametrize(
    ("digest", "scopes", "message"),
    [
        ("demo-city-key", ["ops"], "64 lowercase hex"),
        (DIGEST.upper(), ["ops"], "64 lowercase hex"),
        (DIGEST, ["admin"], "unknown scope"),
    ],
)
def test_bad_api_keys_are_refused(digest: str, scopes: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ApiKey("someone", digest, frozenset(scopes))


def test_caller_names_are_unique_and_limits_positive() -> None:
    key = ApiKey("twin", DIGEST, frozenset({"ops"}))
    with pytest.raises(ConfigError, match="unique"):
        ApiServices(api_keys=[key, key])
    with pytest.raises(ConfigError, match="max_body_bytes"):
        ApiServices(max_body_bytes=0)
