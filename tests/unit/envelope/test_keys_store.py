"""KeyStore: files, key ids, rotation and retention, JWKS, no private material in reprs."""

from __future__ import annotations

import re
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.domain.errors import ConfigError, SignatureInvalid
from gateway.envelope import EnvelopeSigner, EnvelopeVerifier
from gateway.keys import JwksKeyLookup, KeyStore, kid_created_at


def test_ensure_creates_one_private_key_file_with_mode_0600(
    keystore: KeyStore, algorithm: str
) -> None:
    files = list(keystore.directory.glob("*.pem"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert re.fullmatch(r"gw-\d{8}T\d{6}Z", keystore.active().kid)
    assert keystore.active().kid == "gw-20261127T034500Z"
    assert keystore.active().algorithm == algorithm
    again = KeyStore.ensure(keystore.directory, algorithm)  # type: ignore[arg-type]
    assert again.kids() == keystore.kids()


def test_two_keys_in_the_same_second_get_distinct_ids(keystore: KeyStore) -> None:
    first = keystore.active().kid
    second = keystore.generate().kid
    assert second == first + "-1"
    assert keystore.active().kid == second
    assert keystore.kids() == [first, second]


def test_rotation_retires_the_old_key_and_retention_expires_it(
    keystore: KeyStore, clock: Any
) -> None:
    old = keystore.active().kid
    clock.advance(hours=1)
    new = keystore.rotate().kid
    assert new != old and keystore.active().kid == new
    info = keystore.lookup(old)
    assert info is not None and info.retired_at == kid_created_at(new)
    assert info.expires_at == kid_created_at(new) + timedelta(days=7)
    assert {k["kid"] for k in keystore.public_jwks()["keys"]} == {old, new}
    assert keystore.public_key(old) is not None

    clock.advance(days=7)
    assert keystore.public_key(old) is None
    assert [k["kid"] for k in keystore.public_jwks()["keys"]] == [new]
    assert keystore.public_key(new) is not None
    assert keystore.prune() == [old]
    assert not (keystore.directory / f"{old}.pem").exists()


def test_envelopes_of_a_retired_key_verify_within_retention_and_are_refused_after(
    keystore: KeyStore, clock: Any
) -> None:
    signer = EnvelopeSigner(keystore, clock=clock)
    verifier = EnvelopeVerifier(keystore, max_age=timedelta(days=30), clock=clock)
    envelope = signer.sign(
        message_id="m-1",
        type="portal.dossier.sync",
        recipient="portal",
        body=b"{}",
        correlation_id="c",
    )
    clock.advance(days=1)
    keystore.rotate()
    verifier.verify(envelope)  # retired, within retention
    clock.advance(days=7)
    with pytest.raises(SignatureInvalid) as refused:
        verifier.verify(envelope)
    assert refused.value.reason == "kid_retired"


def test_another_process_rotation_is_seen_on_an_unknown_kid(keystore: KeyStore, clock: Any) -> None:
    other = KeyStore(keystore.directory, keystore.algorithm, keystore.retention, clock=clock)
    clock.advance(minutes=5)
    new = keystore.rotate().kid
    info = other.lookup(new)
    assert info is not None and info.kid == new
    assert other.lookup("gw-20991231T000000Z") is None


def test_public_jwks_verifies_through_a_jwks_lookup(keystore: KeyStore, clock: Any) -> None:
    envelope = EnvelopeSigner(keystore, clock=clock).sign(
        message_id="m-2",
        type="city.dossier.submitted",
        recipient="city",
        body=b'{"a":1}',
        correlation_id="c",
    )
    jwks = keystore.public_jwks()
    assert all("d" not in key for key in jwks["keys"])
    EnvelopeVerifier(JwksKeyLookup(jwks), clock=clock).verify(envelope)


def test_private_material_is_not_in_reprs(keystore: KeyStore) -> None:
    private = keystore.active().key.as_dict(private=True)
    secret = str(private["d"])
    for text in (
        repr(keystore),
        repr(keystore.active()),
        repr(keystore.lookup(keystore.active().kid)),
    ):
        assert secret not in text
        assert "PRIVATE" not in text


def test_unsupported_algorithm_and_empty_directory_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"keys\.algorithm"):
        KeyStore(tmp_path, "RS256")  # type: ignore[arg-type]
    empty = KeyStore(tmp_path / "none")
    with pytest.raises(ConfigError, match="no signing key"):
        empty.active()


def test_foreign_files_in_the_directory_are_ignored(keystore: KeyStore) -> None:
    (keystore.directory / "README.txt").write_text("not a key")
    (keystore.directory / "other.pem").write_text("not ours")
    reopened = KeyStore(keystore.directory)
    assert reopened.kids() == keystore.kids()


def test_a_key_file_readable_by_others_is_refused(keystore: KeyStore) -> None:
    path = keystore.directory / f"{keystore.active().kid}.pem"
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"readable by others \(mode 644\).*chmod 600"):
        KeyStore(keystore.directory)
