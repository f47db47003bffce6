"""The evidence log: an append-only, hash-chained record of every crossing.

What it is for: proof, long after the fact, of what the gateway sent and received
(time, direction, partner, message, dossier, body digest, signature), in a form where
changing, deleting or reordering any record, or cutting the log's tail, is detected by
``tthc-gateway log verify``.

Rules:
- A write that fails leaves the writer *in doubt* (a connection lost at COMMIT may have
  committed it): its next append reads the chain's head back from the database before
  numbering, so a record that did land is never numbered twice.
- One record per crossing, written by :meth:`EvidenceLog.append` (or ``append_many``
  for throughput). Records are never updated or deleted (the schema's triggers refuse;
  on PostgreSQL TRUNCATE too).
- Each writer process has its own chain: a chain id made at start-up (host, pid, time,
  random), registered before its first record, sequence numbers 1, 2, 3, ... and each
  record's ``prev_hash`` = the previous record's hash. The head lives in memory, so
  appending never reads the database and writers never contend on a shared head.
  Appends within a process are serialized by a lock held across the insert, so a
  failed insert leaves no gap.
- Bodies are protected per call (``body_policy``): ``digest`` (default: only SHA-256),
  ``encrypted`` (AES-256-GCM with the configured 32-byte key) or ``none`` (clear, only
  for bodies without personal data). See :mod:`gateway.store.evidence_format`.
- Checkpoints: after every ``checkpoint_every`` records, or when ``checkpoint_interval``
  has passed at an append (or at :meth:`EvidenceLog.maybe_checkpoint`, which the
  periodic job calls), the writer signs the heads of its own chain and of every other
  chain that advanced since its last checkpoint, and the hash of the previous
  checkpoint (one chain of checkpoints across writers, see
  :mod:`gateway.store.evidence_checkpoint`). :meth:`EvidenceLog.close` writes a final
  checkpoint.
- Anchors: each checkpoint's hash is appended to the witness (``witness``, see
  :mod:`gateway.store.anchors`) right after the checkpoint commits. A failed append is
  logged and tried again by the periodic job; a later checkpoint covers it anyway.
- Time-stamps: the periodic job (and ``close``) asks the TSA (``stamper``, see
  :mod:`gateway.store.timestamps`) for a token on the newest checkpoint not yet
  stamped, never an append: a TSA that is down delays the token, never the evidence.
  After a failure it waits ``stamp_retry`` before trying again (logged once per outage).
- Sealing: a chain whose last record no checkpoint covers, and whose head has not moved
  for ``seal_after`` as this process watched it, belonged to a writer that died (or an
  idle API process, which has no periodic job): the periodic job writes a *sealing*
  checkpoint covering its head (``sealed`` in the payload), whatever the age of its
  last record.
- Records appended after the last checkpoint are protected by the chain only until one
  covers them; :func:`verify` names how many, per chain.
- :func:`verify` (in :mod:`gateway.store.evidence_verify`) walks every chain, every
  checkpoint, the anchors and the tokens, and names the first thing that does not verify.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from gateway.domain.errors import InvalidInput, UpstreamError
from gateway.store.anchors import Anchor, Witness
from gateway.store.db import driver_write_tx, read_tx, utcnow, write_tx
from gateway.store.evidence_checkpoint import (
    WrittenCheckpoint,
    heads_of,
    heads_since,
    open_chains,
    register_chain,
    write_checkpoint,
)
from gateway.store.evidence_format import (
    BODY_POLICIES,
    GENESIS,
    BodyPolicy,
    Direction,
    check_encryption_key,
    checkpoint_hash,
    encrypt_body,
    record_hash,
    sha256_hex,
)
from gateway.store.evidence_verify import Problem, Tail, VerifyReport, verify
from gateway.store.prepared import Prepared
from gateway.store.schema import evidence_records
from gateway.store.signatures import CheckpointSigner
from gateway.store.timestamps import TimeStamper, newest_unstamped, store_token

__all__ = [
    "EvidenceEntry",
    "EvidenceLog",
    "EvidenceReceipt",
    "Problem",
    "Tail",
    "VerifyReport",
    "new_chain_id",
    "verify",
]

# run per partner call (twice): on the driver (see gateway.store.prepared)
_INSERT_RECORDS = Prepared(evidence_records.insert())
log = logging.getLogger(__name__)
OTHERS_STAMP_AFTER = timedelta(seconds=15)  # another writer's checkpoint: it had its chance


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
        keystore: CheckpointSigner | None,
        encryption_key: bytes | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval: timedelta = timedelta(seconds=60),
        chain_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        witness: Witness | None = None,
        stamper: TimeStamper | None = None,
        stamp_retry: timedelta = timedelta(seconds=60),
        seal_after: timedelta = timedelta(seconds=300),
    ) -> None:
        if checkpoint_every < 1:
            raise InvalidInput("evidence.checkpoint_every: must be at least 1")
        if seal_after <= timedelta(0):
            raise InvalidInput("evidence.seal_after_seconds: must be positive")
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
        self._in_doubt = False  # a write failed: did its commit land? read the head back first
        self._since_checkpoint = 0
        self._last_checkpoint_at = clock()
        self._checkpoint_seq = 0
        self._registered = False
        self._witness = witness
        self._witness_lock = threading.Lock()
        self._unanchored: WrittenCheckpoint | None = None
        self._stamper = stamper
        self._stamp_retry = stamp_retry
        self._stamp_lock = threading.Lock()
        self._stamp_after = clock() - stamp_retry
        self._stamp_failing = False
        self._seal_after = seal_after
        self._seal_check_every = min(checkpoint_interval, seal_after)
        self._last_seal_check = clock() - self._seal_check_every
        self._open_seen: dict[str, tuple[int, datetime]] = {}

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
            if not self._registered:
                register_chain(self.engine, self.chain_id, self._clock())
                self._registered = True
            if self._in_doubt:
                self._seq, self._head = self._stored_head()
                self._in_doubt = False
            seq, head = self._seq, self._head
            rows: list[dict[str, object]] = []
            receipts: list[EvidenceReceipt] = []
            for entry in entries:
                seq += 1
                row = self._row(entry, seq, head)
                head = str(row["hash"])
                rows.append(row)
                receipts.append(EvidenceReceipt(self.chain_id, seq, head))
            try:
                with driver_write_tx(self.engine) as transaction:
                    _INSERT_RECORDS.execute_many(transaction, rows)
            except BaseException:
                # a connection lost at COMMIT may have committed it: the next append reads
                # the chain's head back instead of reusing these sequence numbers
                self._in_doubt = True
                raise
            self._seq, self._head = seq, head
            self._since_checkpoint += len(rows)
            due = self._since_checkpoint >= self._every or (
                self._clock() - self._last_checkpoint_at >= self._interval
            )
        if due:
            self.checkpoint()
        return receipts

    def _stored_head(self) -> tuple[int, str]:
        """This chain's last record as the database holds it: (seq, hash), or (0, GENESIS)."""
        with read_tx(self.engine) as connection:
            last = connection.execute(
                select(evidence_records.c.seq, evidence_records.c.hash)
                .where(evidence_records.c.chain_id == self.chain_id)
                .order_by(evidence_records.c.seq.desc())
                .limit(1)
            ).first()
        return (0, GENESIS) if last is None else (int(last.seq), str(last.hash))

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
        """The periodic job: checkpoint if records were appended and the interval has
        passed; seal chains of dead writers; retry a failed anchor; time-stamp."""
        with self._lock:
            due = self._since_checkpoint > 0 and (
                self._clock() - self._last_checkpoint_at >= self._interval
            )
        written = self.checkpoint() if due else None
        sealed = self.seal_open_chains()
        self._anchor(None)
        self.stamp_pending()
        return written if written is not None else sealed

    def checkpoint(self, *, seal: Sequence[str] = ()) -> int | None:
        """Sign and store the chain heads now (and seal ``seal``); the checkpoint id, or
        None without a key or with nothing to cover."""
        if self._keystore is None:
            return None
        with self._lock:
            now = self._clock()
            since = self._last_checkpoint_at - timedelta(seconds=5)
            heads: dict[str, tuple[int, str]] = {}
            if self._seq:
                heads[self.chain_id] = (self._seq, self._head)
            signer = self._keystore
            with write_tx(self.engine) as connection:
                heads.update(heads_since(connection, since, self.chain_id))
                sealing = heads_of(connection, [c for c in seal if c != self.chain_id])
                heads.update(sealing)
                if not heads:
                    return None
                written = write_checkpoint(
                    connection, signer, self.chain_id, now, heads, sorted(sealing)
                )
            self._since_checkpoint = 0
            self._last_checkpoint_at = now
            self._checkpoint_seq += 1
        if sealing:
            log.warning("evidence: checkpoint %d sealed chains %s", written.id, sorted(sealing))
        self._anchor(written)
        return written.id

    def seal_open_chains(self) -> int | None:
        """Seal chains whose head stayed uncovered for ``seal_after`` (see the rules)."""
        now = self._clock()
        if self._keystore is None or now - self._last_seal_check < self._seal_check_every:
            return None
        self._last_seal_check = now
        uncovered = open_chains(self.engine, self.chain_id)
        due: list[str] = []
        for chain_id, seq in uncovered.items():
            seen = self._open_seen.get(chain_id)
            if seen is None or seen[0] != seq:
                self._open_seen[chain_id] = (seq, now)
            elif now - seen[1] >= self._seal_after:
                due.append(chain_id)
        self._open_seen = {c: s for c, s in self._open_seen.items() if c in uncovered}
        if not due:
            return None
        for chain_id in due:
            self._open_seen.pop(chain_id, None)
        return self.checkpoint(seal=due)

    def _anchor(self, written: WrittenCheckpoint | None) -> None:
        """Anchor ``written`` (or retry the last one that failed); never raises."""
        if self._witness is None:
            return
        with self._witness_lock:
            target = written or self._unanchored
            if target is None:
                return
            try:
                self._witness.append(
                    Anchor(target.id, target.hash, target.at, target.writer), self._clock()
                )
            except OSError as error:
                if self._unanchored is None:
                    log.error("evidence: cannot anchor checkpoint %d: %s", target.id, error)
                self._unanchored = target  # the newest unanchored: it covers the others
                return
            if self._unanchored is not None and self._unanchored.id <= target.id:
                log.warning("evidence: anchoring works again (checkpoint %d)", target.id)
                self._unanchored = None

    def stamp_pending(self) -> int | None:
        """Time-stamp the newest checkpoint not yet stamped; its id, or None (nothing to
        do, backing off, or the TSA failed: logged, tried again after ``stamp_retry``)."""
        if self._stamper is None:
            return None
        with self._stamp_lock:
            now = self._clock()
            if now < self._stamp_after:
                return None
            pending = newest_unstamped(self.engine, self.chain_id, now - OTHERS_STAMP_AFTER)
            if pending is None:
                return None
            checkpoint_id, compact = pending
            try:
                token = self._stamper.stamp(compact.encode("ascii"))
            except UpstreamError as error:
                if not self._stamp_failing:
                    log.warning(
                        "evidence: time-stamping checkpoint %d failed (%s); retrying every %s",
                        checkpoint_id, error, self._stamp_retry,
                    )  # fmt: skip
                self._stamp_failing = True
                self._stamp_after = now + self._stamp_retry
                return None
            store_token(
                self.engine, checkpoint_id, checkpoint_hash(compact), self._stamper.name,
                token, self._clock(),
            )  # fmt: skip
            if self._stamp_failing:
                log.warning("evidence: time-stamping works again (checkpoint %d)", checkpoint_id)
            self._stamp_failing = False
            return checkpoint_id

    def close(self) -> int | None:
        """Write a final checkpoint if anything was appended since the last one, anchor
        and time-stamp it (the TSA's timeout bounds the wait; failures are logged)."""
        with self._lock:
            pending = self._since_checkpoint > 0
        written = self.checkpoint() if pending else None
        self._anchor(None)
        self.stamp_pending()
        return written
