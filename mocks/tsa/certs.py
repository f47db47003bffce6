"""The mock time-stamping authority's keys and certificates: a root CA and the TSA's own.

What it is for: the TSA mock (:mod:`mocks.tsa.app`) signs tokens with a key whose
certificate carries what RFC 3161 section 2.3 requires; the gateway and ``openssl ts
-verify`` check the tokens against the PEM bundle written here.

Rules:
- Two certificates, both ECDSA P-256: "TTHC Mock TSA Root" (self-signed, CA) issues
  "TTHC Mock TSA" (end entity): ``extendedKeyUsage`` = ``timeStamping`` only, critical;
  ``keyUsage`` = digitalSignature + nonRepudiation, critical; valid for ten years.
- :func:`load_or_create` keeps them in a directory (``tsa.key`` 0600, ``tsa.pem`` = the
  TSA certificate followed by the root, ``tsa-ca.pem`` = the root alone): made on the
  first start, reused after, so tokens stay verifiable across restarts.
- Obviously not a real authority: the names say "Mock", the key sits on disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = timedelta(days=3650)


@dataclass(frozen=True)
class TsaIdentity:
    """The TSA's signing key, its certificate, and the root that issued it."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    root: x509.Certificate

    def bundle_pem(self) -> bytes:
        """The TSA certificate then the root (what ``-CAfile`` and the gateway are given)."""
        return b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in (self.certificate, self.root)
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TTHC demo (not a real authority)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def create_identity(now: datetime | None = None) -> TsaIdentity:
    """A fresh root and TSA certificate (see the module rules)."""
    start = (now or datetime.now(UTC)) - timedelta(days=1)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("TTHC Mock TSA Root")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("TTHC Mock TSA"))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    return TsaIdentity(key, certificate, root)


def save(identity: TsaIdentity, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / "tsa.key"
    pem = identity.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    (directory / "tsa.pem").write_bytes(identity.bundle_pem())
    (directory / "tsa-ca.pem").write_bytes(identity.root.public_bytes(serialization.Encoding.PEM))


def load(directory: Path) -> TsaIdentity:
    key = serialization.load_pem_private_key((directory / "tsa.key").read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{directory / 'tsa.key'}: not an EC private key")
    certificate, root = x509.load_pem_x509_certificates((directory / "tsa.pem").read_bytes())[:2]
    return TsaIdentity(key, certificate, root)


def load_or_create(directory: Path) -> TsaIdentity:
    """The identity kept in ``directory``, made there on the first call."""
    if (directory / "tsa.key").exists() and (directory / "tsa.pem").exists():
        return load(directory)
    identity = create_identity()
    save(identity, directory)
    return identity
