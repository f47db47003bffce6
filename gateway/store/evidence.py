"""The evidence log: an append-only, hash-chained record of every crossing.

What it is for: proof, long after the fact, of what the gateway sent and received
(time, direction, partner, message, dossier, body digest, signature), in a form where
changing, deleting or reordering any record is detected by ``tthc-gateway log verify``.

Rules:
- One record per crossing, written by :meth:`EvidenceLog.append` (or ``append_many``
  for throughput). Records are never updated or deleted (the schema's triggers refuse).
- Each writer process has its own chain: a chain id made at start-up (host, pid, time,
  random), sequence numbers 1, 2, 3, ... and each record's ``prev_hash`` = the previous
  record's hash. The head lives in memory, so appending never reads the database and
  writers never contend on a shared head. Appends within a process are serialized by a
  lock held across the insert, so a failed insert leaves no gap.
- Bodies are protected per call (``body_policy``): ``digest`` (default: only SHA-256),
  ``encrypted`` (AES-256-GCM with the configured 32-byte key) or ``none`` (clear, only
  for bodies without personal data). See :mod:`gateway.store.evidence_format`.
- Checkpoints: after every ``checkpoint_every`` records, or when ``checkpoint_interval``
  has passed at an append (or at :meth:`EvidenceLog.maybe_checkpoint`, which a
  background loop may call), the writer signs the heads of its own chain and of every
  other chain that advanced since its last checkpoint, with the key store's active key,
  and stores that JWS. :meth:`EvidenceLog.close` writes a final checkpoint. Records
  appended after the last checkpoint are protected by the chain only: deleting them
  from the tail cannot be detected until a checkpoint covers them.
- :func:`verify` (in :mod:`gateway.store.evidence_verify`) walks every chain and every
  checkpoint and names the first record that does not verify.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from joserfc import jws
from sqlalchemy import Engine, and_, func, select

from gateway.domain.errors import InvalidInput
from gateway.keys import KeyStore, jws_registry
from gateway.store.db import driver_write_tx, utcnow, write_tx
from gateway.store.evidence_format import (
    BODY_POLICIES,
    GENESIS,
    BodyPolicy,
    Direction,
    check_encryption_key,
    checkpoint_payload,
    encrypt_body,
    record_hash,
    sha256_hex,
)
from gateway.store.evidence_verify import Problem, VerifyReport, verify
from gateway.store.prepared import Prepared
from gateway.store.schema import evidence_checkpoints, evidence_records

__all__ = [
    "EvidenceEntry",
    "EvidenceLog",
    "EvidenceReceipt",
    "Problem",
    "VerifyReport",
    "new_chain_id",
    "verify",
]

# run per partner call (twice): on the driver (see gateway.store.prepared)
_INSERT_RECORDS = Prepared(evidence_records.insert())


@dataclass(frozen=True)
class EvidenceEntry:
    """One crossing to record. ``body`` is the exact bytes that crossed."""

    direction: Direction
    partner: str
    body: bytes
    message_id: str | None = None
    correlation_id: str | None = None
    dossier_code: str | None = None
    signature: str | None = None
    body_policy: BodyPolicy = "digest"
    at: datetime | None = None


@dataclass(frozen=True)
class EvidenceReceipt:
    """Where a record landed."""

    chain_id: str
    seq: int
    hash: str


def new_chain_id() -> str:
    """A chain id unique to this process start: host, pid, UTC time, random suffix."""
    host = socket.gethostname().split(".")[0][:32] or "host"
    return f"{host}-{os.getpid()}-{utcnow().strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"


class EvidenceLog:
    """This process's writer of the evidence log (see the module rules)."""

    def __init__(
        self,
        engine: Engine,
        *,
        keystore: KeyStore | None,
        encryption_key: bytes | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval: timedelta = timedelta(seconds=60),
        chain_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if checkpoint_every < 1:
            raise InvalidInput("evidence.checkpoint_every: must be at least 1")
        self.engine = engine
        self.chain_id = chain_id or new_chain_id()
        self._keystore = keystore
        self._cipher = check_encryption_key(encryption_key)
        self._every = checkpoint_every
        self._interval = checkpoint_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = 0
        self._head = GENESIS
        self._since_checkpoint = 0
        self._last_checkpoint_at = clock()
        self._checkpoint_seq = 0

    def __repr__(self) -> str:
        return f"EvidenceLog(chain_id={self.chain_id!r}, seq={self._seq})"

    @property
    def head(self) -> tuple[int, str]:
        """(sequence, hash) of this chain's last record."""
        return self._seq, self._head

    def append(self, entry: EvidenceEntry) -> EvidenceReceipt:
        """Record one crossing."""
        return self.append_many([entry])[0]

    def append_many(self, entries: Sequence[EvidenceEntry]) -> list[EvidenceReceipt]:
        """Record several crossings in one transaction, in order."""
        if not entries:
            return []
        for entry in entries:
            self._check(entry)
        with self._lock:
            seq, head = self._seq, self._head
            rows: list[dict[str, object]] = []
            receipts: list[EvidenceReceipt] = []
            for entry in entries:
                seq += 1
                row = self._row(entry, seq, head)
                head = str(row["hash"])
                rows.append(row)
                receipts.append(EvidenceReceipt(self.chain_id, seq, head))
            with driver_write_tx(self.engine) as transaction:
                _INSERT_RECORDS.execute_many(transaction, rows)
            self._seq, self._head = seq, head
            self._since_checkpoint += len(rows)
            due = self._since_checkpoint >= self._every or (
                self._clock() - self._last_checkpoint_at >= self._interval
            )
        if due:
            self.checkpoint()
        return receipts

    def _check(self, entry: EvidenceEntry) -> None:
        if entry.direction not in ("in", "out"):
            raise InvalidInput(f"evidence: direction {entry.direction!r} is not in|out")
        if entry.body_policy not in BODY_POLICIES:
            raise InvalidInput(
                f"evidence: body_policy {entry.body_policy!r} not in {BODY_POLICIES}"
            )
        if entry.body_policy == "encrypted" and self._cipher is None:
            raise InvalidInput("evidence: body_policy 'encrypted' needs evidence.encryption_key")
        if not isinstance(entry.body, bytes | bytearray):
            raise InvalidInput("evidence: body must be bytes")
        if entry.at is not None and entry.at.tzinfo is None:
            raise InvalidInput("evidence: 'at' must be timezone-aware (UTC)")

    def _row(self, entry: EvidenceEntry, seq: int, prev_hash: str) -> dict[str, object]:
        body = bytes(entry.body)
        blob: bytes | None = None
        if entry.body_policy == "encrypted":
            assert self._cipher is not None
            blob = encrypt_body(self._cipher, body, self.chain_id, seq)
        elif entry.body_policy == "none":
            blob = body
        at = entry.at or self._clock()
        fields: dict[str, object] = {
            "chain_id": self.chain_id,
            "seq": seq,
            "at": at,
            "direction": entry.direction,
            "partner": entry.partner,
            "message_id": entry.message_id,
            "correlation_id": entry.correlation_id,
            "dossier_code": entry.dossier_code,
            "body_sha256": sha256_hex(body),
            "body_policy": entry.body_policy,
            "body_blob": blob,
            "signature": entry.signature,
            "prev_hash": prev_hash,
        }
        fields["hash"] = record_hash(**fields)  # type: ignore[arg-type]
        return fields

    # -- checkpoints ------------------------------------------------------------

    def maybe_checkpoint(self) -> int | None:
        """Checkpoint if records were appended and the interval has passed."""
        with self._lock:
            due = self._since_checkpoint > 0 and (
                self._clock() - self._last_checkpoint_at >= self._interval
            )
        return self.checkpoint() if due else None

    def checkpoint(self) -> int | None:
        """Sign and store the chain heads now; returns the checkpoint id (None: no key)."""
        if self._keystore is None:
            return None
        with self._lock:
            now = self._clock()
            since = self._last_checkpoint_at - timedelta(seconds=5)
            heads: dict[str, tuple[int, str]] = {}
            if self._seq:
                heads[self.chain_id] = (self._seq, self._head)
            key = self._keystore.active()
            with write_tx(self.engine) as connection:
                latest = (
                    select(
                        evidence_records.c.chain_id, func.max(evidence_records.c.seq).label("seq")
                    )
                    .where(
                        evidence_records.c.at >= since,
                        evidence_records.c.chain_id != self.chain_id,
                    )
                    .group_by(evidence_records.c.chain_id)
                    .subquery()
                )
                others = connection.execute(
                    select(
                        evidence_records.c.chain_id, evidence_records.c.seq, evidence_records.c.hash
                    ).join(
                        latest,
                        and_(
                            evidence_records.c.chain_id == latest.c.chain_id,
                            evidence_records.c.seq == latest.c.seq,
                        ),
                    )
                )
                for row in others:
                    heads[row.chain_id] = (int(row.seq), row.hash)
                if not heads:
                    return None
                payload = checkpoint_payload(self.chain_id, now, heads)
                header = {"alg": key.algorithm, "kid": key.kid, "typ": "tthc-checkpoint"}
                signed = jws.serialize_compact(
                    header, payload, key.key, registry=jws_registry([key.algorithm])
                )
                result = connection.execute(
                    evidence_checkpoints.insert().values(
                        at=now,
                        writer_chain_id=self.chain_id,
                        kid=key.kid,
                        payload=payload.decode("utf-8"),
                        jws=signed,
                    )
                )
                assert result.inserted_primary_key is not None
                checkpoint_id = int(result.inserted_primary_key[0])
            self._since_checkpoint = 0
            self._last_checkpoint_at = now
            self._checkpoint_seq += 1
            return checkpoint_id

    def close(self) -> int | None:
        """Write a final checkpoint if anything was appended since the last one."""
        with self._lock:
            pending = self._since_checkpoint > 0
        return self.checkpoint() if pending else None
