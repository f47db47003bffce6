"""RFC 3161 time-stamps on evidence checkpoints: the port, the stored tokens, offline checks.

What it is for: a checkpoint signed with our own key proves what the log held, but not
when; a token from an independent time-stamping authority (TSA) proves the checkpoint
existed at the TSA's ``genTime``. Because checkpoints are chained (each signs the hash
of the one before it), a token on checkpoint N dates every checkpoint up to N and every
record they cover.

Rules:
- What is stamped: the checkpoint's compact JWS; the request's ``messageImprint`` is its
  SHA-256, i.e. the checkpoint hash (:func:`gateway.store.evidence_format.checkpoint_hash`),
  so ``openssl ts -verify -digest HASH -in token.tsr -CAfile tsa.pem`` checks a token.
- The port is :class:`TimeStamper` (``stamp(message) -> DER TimeStampResp``); it raises
  an :class:`~gateway.domain.errors.UpstreamError` when the TSA is down or refuses. The
  HTTP implementation is :mod:`gateway.evidence_tsa`.
- A token is stored only when it verifies (:func:`verify_token`) for that checkpoint,
  one per checkpoint (``evidence_timestamps``, append-only like the rest of the log).
- Offline verification (no network): the CMS signature chains to a certificate of the
  configured PEM bundle (its CA certificates are the roots; an end-entity certificate in
  it pins the TSA); the TSA certificate has the critical extendedKeyUsage timeStamping;
  the status is granted; the imprint is the checkpoint hash. Implemented with the
  ``rfc3161-client`` library.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cryptography import x509
from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response
from sqlalchemy import Engine, func, select

from gateway.domain.errors import ConfigError
from gateway.store.db import READ_ONLY, insert_ignore, write_tx
from gateway.store.schema import evidence_checkpoints, evidence_timestamps

SHA256 = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")


class TimeStamper(Protocol):
    """A time-stamping authority: ``stamp`` returns the DER TimeStampResp for ``message``."""

    name: str

    def stamp(self, message: bytes) -> bytes: ...


class TokenInvalid(Exception):
    """A time-stamp token that does not verify; the message says why."""


@dataclass(frozen=True)
class TokenInfo:
    """What a verified token says."""

    gen_time: datetime
    serial: int
    imprint_hex: str
    tsa: str


@dataclass(frozen=True)
class TsaTrust:
    """The certificates a token must chain to (roots), and the TSA's own when pinned."""

    roots: tuple[x509.Certificate, ...]
    pinned: x509.Certificate | None = None

    @classmethod
    def from_pem(cls, data: bytes, source: str = "evidence.tsa_certificate") -> TsaTrust:
        try:
            certificates = x509.load_pem_x509_certificates(data)
        except ValueError as error:
            raise ConfigError(f"{source}: not a PEM certificate bundle ({error})") from None
        roots: list[x509.Certificate] = []
        leaves: list[x509.Certificate] = []
        for certificate in certificates:
            (roots if _is_ca(certificate) else leaves).append(certificate)
        if len(leaves) == 1 and not roots:
            roots = leaves  # a self-signed TSA certificate is its own root
        if not roots:
            raise ConfigError(f"{source}: holds no CA certificate to verify tokens against")
        return cls(tuple(roots), leaves[0] if len(leaves) == 1 else None)

    @classmethod
    def from_file(cls, path: Path) -> TsaTrust:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ConfigError(f"evidence.tsa_certificate: cannot read {path} ({error})") from None
        return cls.from_pem(data, f"evidence.tsa_certificate ({path})")


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def verify_token(token: bytes, checkpoint_hash: str, trust: TsaTrust) -> TokenInfo:
    """Check ``token`` (DER TimeStampResp) for ``checkpoint_hash`` offline; TokenInvalid if not."""
    try:
        response = decode_timestamp_response(token)
    except ValueError as error:
        raise TokenInvalid(f"not a TimeStampResp ({error})") from None
    builder = VerifierBuilder(tsa_certificate=trust.pinned)
    for root in trust.roots:
        builder = builder.add_root_certificate(root)
    try:
        expected = bytes.fromhex(checkpoint_hash)
        builder.build().verify(response, expected)
    except (VerificationError, ValueError) as error:
        raise TokenInvalid(str(error)) from None
    info = response.tst_info
    if info.message_imprint.hash_algorithm != SHA256:
        raise TokenInvalid(f"imprint algorithm {info.message_imprint.hash_algorithm.dotted_string}"
                           " is not SHA-256")  # fmt: skip
    try:
        tsa_name = str(info.name.value)
    except (ValueError, AttributeError):
        tsa_name = ""
    return TokenInfo(
        info.gen_time, info.serial_number, info.message_imprint.message.hex(), tsa_name
    )


def token_time(token: bytes) -> datetime:
    """The ``genTime`` of a token (no verification: :func:`verify_token` does that)."""
    return decode_timestamp_response(token).tst_info.gen_time


def newest_unstamped(
    engine: Engine, writer: str, others_before: datetime
) -> tuple[int, str] | None:
    """(id, jws) of the newest checkpoint after the last time-stamped one, when it is
    ``writer``'s own or older than ``others_before`` (its writer did not stamp it)."""
    floor = select(
        func.coalesce(func.max(evidence_timestamps.c.checkpoint_id), 0)
    ).scalar_subquery()
    query = (
        select(
            evidence_checkpoints.c.id,
            evidence_checkpoints.c.jws,
            evidence_checkpoints.c.writer_chain_id,
            evidence_checkpoints.c.at,
        )
        .where(evidence_checkpoints.c.id > floor)
        .order_by(evidence_checkpoints.c.id.desc())
        .limit(1)
    )
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        row = connection.execute(query).first()
    if row is None or (row.writer_chain_id != writer and row.at > others_before):
        return None
    return int(row.id), row.jws


def store_token(
    engine: Engine, checkpoint_id: int, digest: str, tsa: str, token: bytes, now: datetime
) -> None:
    """Keep ``token`` for the checkpoint (the first one stored wins)."""
    with write_tx(engine) as connection:
        connection.execute(
            insert_ignore(connection, evidence_timestamps).values(
                checkpoint_id=checkpoint_id,
                checkpoint_hash=digest,
                at=now,
                gen_time=token_time(token),
                tsa=tsa[:255],
                token=token,
            )
        )
