"""The evidence log's formats: canonical record serialization, hashes, body protection.

What it is for: the writer (:mod:`gateway.store.evidence`) and the verifier
(:mod:`gateway.store.evidence_verify`) must compute byte-identical hashes; this module
is the single definition both use.

Rules:
- A record's hash is SHA-256 (hex) over the canonical JSON (sorted keys, no spaces,
  UTF-8) of: version, chain id, sequence, time (``YYYY-MM-DDTHH:MM:SS.ffffffZ``),
  direction, partner, message id, correlation id, dossier code, body SHA-256, body
  policy, SHA-256 of the stored body blob (or null), signature, previous hash.
  Hashing the blob's digest means a changed ciphertext byte is caught without the key.
- The first record of a chain has sequence 1 and previous hash :data:`GENESIS`.
- Body policies: ``digest`` stores only the SHA-256; ``encrypted`` stores AES-256-GCM
  ciphertext (12-byte random nonce prefixed; associated data ``chain_id:seq``, so a
  ciphertext moved to another record fails); ``none`` applies no protection and keeps
  the body in clear (only for bodies without personal data).
- A checkpoint is a compact JWS (attached payload) signed with the key store's active
  key; its payload is canonical JSON ``{"v": 2, "writer", "at", "prev", "heads": {chain:
  {"seq", "hash"}}, "sealed": [chain, ...]}``. ``prev`` is the hash of the checkpoint
  before it (by id, whichever writer wrote it; :data:`GENESIS` for the first), so the
  checkpoints form one chain; ``sealed`` names the chains of dead writers this
  checkpoint closes. Version 1 payloads (before revision 0005) lack both.
- A checkpoint's hash is the SHA-256 (hex) of its compact JWS (ASCII): what the next
  checkpoint signs as ``prev``, what is anchored, and the RFC 3161 message imprint.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.domain.errors import ConfigError
from gateway.domain.jsonbytes import canonical_json

Direction = Literal["in", "out"]
BodyPolicy = Literal["digest", "encrypted", "none"]
BODY_POLICIES: tuple[BodyPolicy, ...] = ("digest", "encrypted", "none")
GENESIS = "0" * 64
FORMAT_VERSION = 1
CHECKPOINT_VERSION = 2
NONCE_BYTES = 12




def iso_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_hash(
    *,
    chain_id: str,
    seq: int,
    at: datetime,
    direction: str,
    partner: str,
    message_id: str | None,
    correlation_id: str | None,
    dossier_code: str | None,
    body_sha256: str,
    body_policy: str,
    body_blob: bytes | None,
    signature: str | None,
    prev_hash: str,
) -> str:
    """The record's own hash (see the module rules)."""
    return sha256_hex(
        canonical_json(
            {
                "v": FORMAT_VERSION,
                "chain_id": chain_id,
                "seq": seq,
                "at": iso_time(at),
                "direction": direction,
                "partner": partner,
                "message_id": message_id,
                "correlation_id": correlation_id,
                "dossier_code": dossier_code,
                "body_sha256": body_sha256,
                "body_policy": body_policy,
                "blob_sha256": None if body_blob is None else sha256_hex(body_blob),
                "signature": signature,
                "prev_hash": prev_hash,
            }
        )
    )


def check_encryption_key(key: bytes | None) -> AESGCM | None:
    """An AES-GCM cipher for a 32-byte key; ConfigError naming the key otherwise."""
    if key is None:
        return None
    if not isinstance(key, bytes) or len(key) != 32:
        raise ConfigError("evidence.encryption_key: must be 32 bytes (AES-256-GCM)")
    return AESGCM(key)


def associated_data(chain_id: str, seq: int) -> bytes:
    return f"{chain_id}:{seq}".encode()


def encrypt_body(cipher: AESGCM, body: bytes, chain_id: str, seq: int) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, body, associated_data(chain_id, seq))


def decrypt_body(cipher: AESGCM, blob: bytes, chain_id: str, seq: int) -> bytes:
    """The clear body; raises cryptography's InvalidTag if the blob was altered."""
    return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data(chain_id, seq))


def checkpoint_payload(
    writer: str,
    at: datetime,
    heads: dict[str, tuple[int, str]],
    *,
    prev: str = GENESIS,
    sealed: Iterable[str] = (),
) -> bytes:
    return canonical_json(
        {
            "v": CHECKPOINT_VERSION,
            "writer": writer,
            "at": iso_time(at),
            "prev": prev,
            "heads": {chain: {"seq": seq, "hash": h} for chain, (seq, h) in sorted(heads.items())},
            "sealed": sorted(set(sealed)),
        }
    )


def checkpoint_hash(compact_jws: str) -> str:
    """The checkpoint's hash (see the module rules)."""
    return sha256_hex(compact_jws.encode("ascii"))
