"""Anchors: every checkpoint's hash, also written to a witness the database cannot rewrite.

What it is for: the checkpoints are in the same database as the records, so whoever can
delete records can delete the checkpoints after them too. Each checkpoint's hash is
therefore also appended to a :class:`Witness` outside the database; ``log verify``
checks the log against it, so a tail cut together with its checkpoints, a rewritten
checkpoint or a truncated table is detected.

Rules:
- The port is :class:`Witness`: ``append`` one :class:`Anchor`, ``entries`` to read
  them back in order. :class:`FileWitness` is the default (``evidence.anchor_dir``,
  ``var/anchors/`` in the demo); an object store with retention locks or a remote
  witness can replace it in the composition root.
- The file (``checkpoints.anchors``) is opened ``O_APPEND``, written one line per
  checkpoint with one ``write`` under an exclusive ``flock`` (several processes of one
  host share it), then ``fsync``-ed; it is never rewritten. Production should make it
  append-only for the gateway's user too (``chattr +a``, or a directory the database's
  operators cannot write).
- A line is canonical JSON, self-describing: ``{"v": 1, "type": "tthc-evidence-anchor",
  "checkpoint_id", "checkpoint_hash", "checkpoint_at", "writer", "anchored_at",
  "prev"}``, where ``prev`` is the SHA-256 (hex) of the previous line's bytes (without
  its newline), 64 zeros for the first: the lines are chained, so an edited or removed
  line is named by :meth:`FileWitness.entries`.
- A checkpoint is anchored after its transaction commits (an anchor never names a
  checkpoint that was rolled back). A checkpoint whose anchoring failed is covered by
  the next anchored one: checkpoints are chained, the next one signs its hash.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from gateway.domain.jsonbytes import canonical_json
from gateway.store.evidence_format import GENESIS, iso_time

ANCHOR_TYPE = "tthc-evidence-anchor"
ANCHOR_FILE = "checkpoints.anchors"
_TAIL_BYTES = 64 * 1024


@dataclass(frozen=True)
class Anchor:
    """What is anchored about one checkpoint."""

    checkpoint_id: int
    checkpoint_hash: str
    checkpoint_at: datetime
    writer: str


@dataclass(frozen=True)
class AnchorEntry:
    """One anchor read back: ``line`` number (1-based); ``defect`` says what is wrong with
    the line itself (unreadable, or not linked to the line before it)."""

    line: int
    checkpoint_id: int | None
    checkpoint_hash: str | None
    anchored_at: str | None
    defect: str | None = None


@runtime_checkable
class Witness(Protocol):
    """Where checkpoint hashes are anchored (see the module rules)."""

    name: str

    def append(self, anchor: Anchor, now: datetime) -> None: ...

    def entries(self) -> Iterator[AnchorEntry]: ...


def anchor_line(anchor: Anchor, now: datetime, prev: str) -> bytes:
    """The canonical line for ``anchor`` (without the newline)."""
    return canonical_json(
        {
            "v": 1,
            "type": ANCHOR_TYPE,
            "checkpoint_id": anchor.checkpoint_id,
            "checkpoint_hash": anchor.checkpoint_hash,
            "checkpoint_at": iso_time(anchor.checkpoint_at),
            "writer": anchor.writer,
            "anchored_at": iso_time(now),
            "prev": prev,
        }
    )


def _last_line(descriptor: int) -> bytes | None:
    size = os.fstat(descriptor).st_size
    if size == 0:
        return None
    start = max(0, size - _TAIL_BYTES)
    tail = os.pread(descriptor, size - start, start).rstrip(b"\n")
    if b"\n" not in tail and start > 0:
        raise OSError(f"anchor file: last line longer than {_TAIL_BYTES} bytes")
    return tail.rsplit(b"\n", 1)[-1]


class FileWitness:
    """Anchors in an append-only file (see the module rules)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / ANCHOR_FILE
        self.name = str(self.path)

    def __repr__(self) -> str:
        return f"FileWitness({str(self.path)!r})"

    def append(self, anchor: Anchor, now: datetime) -> None:
        """Append one line, chained to the last one, and fsync it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            last = _last_line(descriptor)
            prev = GENESIS if last is None else hashlib.sha256(last).hexdigest()
            line = anchor_line(anchor, now, prev) + b"\n"
            if os.write(descriptor, line) != len(line):
                raise OSError(f"{self.path}: short write")
            os.fsync(descriptor)
        finally:
            os.close(descriptor)  # releases the lock

    def entries(self) -> Iterator[AnchorEntry]:
        """Every line in order, each checked against the one before it."""
        if not self.path.exists():
            return
        prev = GENESIS
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.rstrip(b"\n")
                yield _entry(number, line, prev)
                prev = hashlib.sha256(line).hexdigest()


def _entry(number: int, line: bytes, prev: str) -> AnchorEntry:
    try:
        data = json.loads(line)
        if not isinstance(data, dict) or data.get("type") != ANCHOR_TYPE:
            raise ValueError("not an anchor line")
        checkpoint_id, digest = int(data["checkpoint_id"]), str(data["checkpoint_hash"])
        anchored_at = str(data["anchored_at"])
        linked = data.get("prev")
    except (ValueError, KeyError, TypeError) as error:
        return AnchorEntry(number, None, None, None, f"unreadable ({error})")
    if canonical_json(data) != line:
        return AnchorEntry(number, checkpoint_id, digest, anchored_at, "not in canonical form")
    if linked != prev:
        return AnchorEntry(
            number, checkpoint_id, digest, anchored_at,
            "does not link to the line before it (a line was removed, edited or inserted)",
        )  # fmt: skip
    return AnchorEntry(number, checkpoint_id, digest, anchored_at)
