"""Verifying the evidence log against what lives outside its tables: anchors and tokens.

What it is for: :func:`gateway.store.evidence_verify.verify` calls these after walking
the records and checkpoints. What the database user can do (delete the tail records
together with the checkpoints after them, rewrite a checkpoint, empty the tables) is
caught here, because the witness and the TSA's signatures are beyond that user's reach.

Rules (the ``reason`` codes):
- ``anchor_broken``: a line of the witness is unreadable or not linked to the line
  before it (the witness itself was edited).
- ``anchor_missing``: an anchored checkpoint is absent from the database (the log was
  cut, or its tables emptied). Names the checkpoint and when it was anchored.
- ``anchor_mismatch``: the checkpoint with an anchored id has another hash (rewritten).
- Checkpoints after the last anchored one are reported (``unanchored``), not failed:
  anchoring happens after the checkpoint commits, so the newest may be in flight, and
  a failed anchor is covered by the next (the checkpoint chain links them).
- ``timestamp_invalid``: a stored token does not verify offline against the configured
  TSA certificates, or is for another hash than its checkpoint's.
- ``timestamp_orphan``: a token names a checkpoint that is absent.
- Without TSA certificates the tokens are not checked, and that is said in a note.
- Memory stays bounded: the witness and the tokens are streamed, checkpoints are looked
  up by id in batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from sqlalchemy import Engine, select

from gateway.store.anchors import AnchorEntry, Witness
from gateway.store.db import READ_ONLY
from gateway.store.evidence_format import checkpoint_hash
from gateway.store.evidence_report import Problem
from gateway.store.schema import evidence_checkpoints, evidence_timestamps
from gateway.store.timestamps import TokenInvalid, TsaTrust, verify_token

BATCH = 1000


@dataclass(frozen=True)
class AnchorSummary:
    lines: int
    last_anchored: int  # the highest checkpoint id anchored (0: none)


@dataclass(frozen=True)
class StampSummary:
    tokens: int  # tokens that verify
    last_stamped: int  # the highest checkpoint id with a token that verifies (0: none)
    last_gen_time: datetime | None


def _batches(items: Iterable[AnchorEntry], size: int) -> Iterator[list[AnchorEntry]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _checkpoint_hashes(engine: Engine, ids: list[int]) -> dict[int, str]:
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        rows = connection.execute(
            select(evidence_checkpoints.c.id, evidence_checkpoints.c.jws).where(
                evidence_checkpoints.c.id.in_(ids)
            )
        )
        return {int(row.id): checkpoint_hash(row.jws) for row in rows}


def check_anchors(engine: Engine, witness: Witness, problems: list[Problem]) -> AnchorSummary:
    """Every anchor against the database (see the module rules)."""
    lines = 0
    last_anchored = 0
    for batch in _batches(witness.entries(), BATCH):
        lines += len(batch)
        ids = [e.checkpoint_id for e in batch if e.checkpoint_id is not None]
        stored = _checkpoint_hashes(engine, ids) if ids else {}
        for entry in batch:
            where = f"{witness.name} line {entry.line}"
            if entry.defect is not None:
                problems.append(
                    Problem("anchor_broken", None, None, entry.checkpoint_id,
                            f"{where}: {entry.defect}")
                )  # fmt: skip
            if entry.checkpoint_id is None:
                continue
            last_anchored = max(last_anchored, entry.checkpoint_id)
            found = stored.get(entry.checkpoint_id)
            if found is None:
                problems.append(
                    Problem(
                        "anchor_missing", None, None, entry.checkpoint_id,
                        f"anchored at {entry.anchored_at} ({where}) but absent from the"
                        " database: the log was cut after an earlier checkpoint, or emptied",
                    )
                )  # fmt: skip
            elif found != entry.checkpoint_hash:
                problems.append(
                    Problem(
                        "anchor_mismatch", None, None, entry.checkpoint_id,
                        f"its hash is not the one anchored at {entry.anchored_at} ({where}):"
                        " the checkpoint was rewritten",
                    )
                )  # fmt: skip
    return AnchorSummary(lines, last_anchored)


def check_tokens(
    engine: Engine, trust: TsaTrust | None, problems: list[Problem], notes: list[str]
) -> StampSummary:
    """Every stored time-stamp token, offline (see the module rules)."""
    tokens = 0
    last_stamped = 0
    last_gen_time: datetime | None = None
    unchecked = 0
    query = (
        select(
            evidence_timestamps.c.checkpoint_id,
            evidence_timestamps.c.checkpoint_hash,
            evidence_timestamps.c.token,
            evidence_checkpoints.c.jws,
        )
        .outerjoin(
            evidence_checkpoints,
            evidence_checkpoints.c.id == evidence_timestamps.c.checkpoint_id,
        )
        .order_by(evidence_timestamps.c.checkpoint_id)
    )
    options = {READ_ONLY: True, "stream_results": True, "yield_per": BATCH}
    with engine.connect().execution_options(**options) as connection:
        for row in connection.execute(query):
            checkpoint_id = int(row.checkpoint_id)
            if row.jws is None:
                problems.append(
                    Problem("timestamp_orphan", None, None, checkpoint_id,
                            "a time-stamp token names this checkpoint, which is absent")
                )  # fmt: skip
                continue
            digest = checkpoint_hash(row.jws)
            if trust is None:
                unchecked += 1
                continue
            try:
                if row.checkpoint_hash != digest:
                    raise TokenInvalid("stored for another hash than the checkpoint has")
                info = verify_token(bytes(row.token), digest, trust)
            except TokenInvalid as error:
                problems.append(
                    Problem("timestamp_invalid", None, None, checkpoint_id,
                            f"time-stamp token does not verify ({error})")
                )  # fmt: skip
                continue
            tokens += 1
            last_stamped = checkpoint_id
            last_gen_time = info.gen_time
    if unchecked:
        notes.append(
            f"{unchecked} time-stamp tokens not checked: no TSA certificate configured"
            " (evidence.tsa_certificate)"
        )
    return StampSummary(tokens, last_stamped, last_gen_time)
