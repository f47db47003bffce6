"""RFC 3161 time-stamps on checkpoints: tokens from the mock TSA verify offline, in process
and with ``openssl ts -verify``; anything else is refused and named."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from gateway.domain.errors import UpstreamMalformed, UpstreamRejected, UpstreamUnavailable
from gateway.evidence_tsa import HttpTimeStamper
from gateway.keys import KeyStore
from gateway.store import EvidenceEntry, EvidenceLog, verify
from gateway.store.anchors import FileWitness
from gateway.store.evidence_format import checkpoint_hash
from gateway.store.schema import evidence_checkpoints, evidence_timestamps
from gateway.store.timestamps import TokenInvalid, TsaTrust, verify_token
from mocks.framework import MockRequest
from mocks.tsa.app import QUERY, TsaMock
from mocks.tsa.certs import create_identity, save

OPENSSL = shutil.which("openssl")


@pytest.fixture
def stamped(
    engine: Engine, keystore: KeyStore, witness: FileWitness, stamper: HttpTimeStamper
) -> tuple[str, bytes]:
    """A closed log whose final checkpoint has a token: (checkpoint hash, token)."""
    log = EvidenceLog(engine, keystore=keystore, checkpoint_every=100, witness=witness,
                      stamper=stamper)  # fmt: skip
    log.append_many([EvidenceEntry("out", "portal", b'{"n":%d}' % n) for n in range(5)])
    assert log.close() is not None
    with engine.connect() as connection:
        row = connection.execute(
            select(evidence_checkpoints.c.jws, evidence_timestamps.c.token).join(
                evidence_timestamps,
                evidence_timestamps.c.checkpoint_id == evidence_checkpoints.c.id,
            )
        ).one()
    return checkpoint_hash(row.jws), bytes(row.token)


def test_a_token_verifies_offline_in_process(
    stamped: tuple[str, bytes], tsa_trust: TsaTrust, tsa_mock: TsaMock
) -> None:
    digest, token = stamped
    info = verify_token(token, digest, tsa_trust)
    assert info.imprint_hex == digest and info.serial == 1
    assert "TTHC Mock TSA" in info.tsa
    assert tsa_mock.state()["issued"][0]["imprint"] == digest


def test_a_token_verifies_with_openssl(
    stamped: tuple[str, bytes], tsa_dir: Path, tmp_path: Path
) -> None:
    if OPENSSL is None:
        pytest.fail("openssl is needed for this test (apt-get install openssl)")
    digest, token = stamped
    (tmp_path / "token.tsr").write_bytes(token)

    def openssl_verify(hex_digest: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [OPENSSL, "ts", "-verify", "-digest", hex_digest, "-in", str(tmp_path / "token.tsr"),
             "-CAfile", str(tsa_dir / "tsa.pem")],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip

    honest = openssl_verify(digest)
    assert "Verification: OK" in honest.stdout, honest.stdout + honest.stderr
    other = openssl_verify("0" * 64)
    assert "Verification: OK" not in other.stdout and other.returncode != 0


def test_a_token_for_another_hash_or_from_another_tsa_or_altered_is_refused(
    stamped: tuple[str, bytes], tsa_trust: TsaTrust, tmp_path: Path
) -> None:
    digest, token = stamped
    with pytest.raises(TokenInvalid, match=r"[Mm]ismatch"):
        verify_token(token, "ab" * 32, tsa_trust)
    stranger = create_identity()
    save(stranger, tmp_path / "stranger")
    with pytest.raises(TokenInvalid):
        verify_token(token, digest, TsaTrust.from_file(tmp_path / "stranger" / "tsa.pem"))
    altered = bytearray(token)
    altered[-10] ^= 0x01  # a byte of the signature
    with pytest.raises(TokenInvalid):
        verify_token(bytes(altered), digest, tsa_trust)


def test_log_verify_checks_the_stored_tokens(
    stamped: tuple[str, bytes], engine: Engine, keystore: KeyStore, witness: FileWitness,
    tsa_trust: TsaTrust, tamper: object,
) -> None:  # fmt: skip
    report = verify(engine, keystore, witness=witness, tsa_trust=tsa_trust)
    assert report.ok and report.stamps == 1 and report.unstamped == ()
    unchecked = verify(engine, keystore, witness=witness)
    assert unchecked.ok and "not checked" in unchecked.notes[0]
    _, token = stamped
    altered = bytearray(token)
    altered[-10] ^= 0x01
    assert callable(tamper)
    tamper("UPDATE evidence_timestamps SET token = :t", t=bytes(altered))
    report = verify(engine, keystore, witness=witness, tsa_trust=tsa_trust)
    assert report.first is not None and report.first.reason == "timestamp_invalid"
    assert [str(t).split(":")[0] for t in report.unstamped] == [
        f"chain {report.unstamped[0].chain_id}"
    ]


def test_a_token_whose_checkpoint_was_deleted_is_named(
    stamped: tuple[str, bytes], engine: Engine, keystore: KeyStore, tamper: object,
    tsa_trust: TsaTrust,
) -> None:  # fmt: skip
    assert callable(tamper)
    tamper("DELETE FROM evidence_checkpoints")
    report = verify(engine, keystore, tsa_trust=tsa_trust)
    assert [p.reason for p in report.problems if p.reason.startswith("timestamp")] == [
        "timestamp_orphan"
    ]


def test_the_tsa_mock_speaks_rfc3161_over_http(tsa_mock: TsaMock) -> None:
    wrong_type = tsa_mock.handle(
        MockRequest("POST", "/", body=b"x", headers={"content-type": "text/plain"})
    )
    assert wrong_type.status == 415
    garbage = tsa_mock.handle(MockRequest("POST", "/", body=b"x", headers={"content-type": QUERY}))
    assert (
        garbage.status == 200 and garbage.headers["content-type"] == "application/timestamp-reply"
    )
    certificate = tsa_mock.handle(MockRequest("GET", "/certificate"))
    assert certificate.body.count(b"BEGIN CERTIFICATE") == 2


def test_the_tsa_certificate_has_the_critical_time_stamping_key_usage(tsa_dir: Path) -> None:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    leaf = x509.load_pem_x509_certificates((tsa_dir / "tsa.pem").read_bytes())[0]
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert usage.critical and list(usage.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def test_the_client_names_what_went_wrong(
    stamper: HttpTimeStamper, tsa_mock: TsaMock, tmp_path: Path
) -> None:
    from mocks.framework import FaultSpec

    tsa_mock.add_fault(FaultSpec(route="POST /", status=502, count=1))
    with pytest.raises(UpstreamUnavailable, match="502"):
        stamper.stamp(b"checkpoint")
    tsa_mock.add_fault(FaultSpec(route="POST /", malformed=True, count=1))
    with pytest.raises(UpstreamMalformed):
        stamper.stamp(b"checkpoint")
    assert stamper.stamp(b"checkpoint")  # back to normal
    unreachable = HttpTimeStamper("http://127.0.0.1:9/tsa", tmp_path / "tsa" / "tsa.pem",
                                  timeout_seconds=0.5)  # fmt: skip
    with pytest.raises(UpstreamUnavailable):
        unreachable.stamp(b"checkpoint")
    missing = HttpTimeStamper("http://tsa.test/tsa", tmp_path / "nowhere.pem")
    with pytest.raises(UpstreamUnavailable, match="cannot read"):
        missing.stamp(b"checkpoint")


def test_a_token_from_another_tsa_is_never_stored(
    engine: Engine, keystore: KeyStore, stamper: HttpTimeStamper, tsa_mock: TsaMock
) -> None:
    tsa_mock.identity = create_identity()  # the TSA's key changed under our trust
    with pytest.raises(UpstreamMalformed, match="does not verify"):
        stamper.stamp(b"checkpoint")
    log = EvidenceLog(engine, keystore=keystore, stamper=stamper, stamp_retry=timedelta(0))
    log.append(EvidenceEntry("out", "portal", b"{}"))
    log.close()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM evidence_timestamps")).scalar() == 0


def test_a_refusal_from_the_tsa_is_upstream_rejected(tsa_dir: Path, tsa_mock: TsaMock) -> None:
    import responses

    from mocks.framework import MockResponse, register_responses
    from mocks.tsa.token import rejection

    class RefusingTsa(TsaMock):
        def stamp(self, request: MockRequest) -> MockResponse:
            refused = rejection("badAlg", "SHA-256 is not accepted here")
            return MockResponse(status=200, headers={"content-type": "application/timestamp-reply"},
                                body=refused.response)  # fmt: skip

    refusing = RefusingTsa(tsa_mock.settings, identity=tsa_mock.identity)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        register_responses(rsps, "http://refusing.test/tsa", refusing)
        client = HttpTimeStamper("http://refusing.test/tsa", tsa_dir / "tsa.pem")
        with pytest.raises(UpstreamRejected, match="REJECTION: SHA-256 is not accepted here"):
            client.stamp(b"checkpoint")
