"""Verifying the evidence log: walk every chain, every checkpoint, the anchors and the
time-stamp tokens; name what fails, and what is not yet covered.

What it is for: ``tthc-gateway log verify``. The report names the first record of each
chain that does not verify, every checkpoint that does not, and, per chain, the records
after the last checkpoint and after the last time-stamped checkpoint.

Rules (what is checked, and the ``reason`` codes of a :class:`Problem`):
- ``missing``: a sequence number is absent (a record deleted). Names the absent one.
- ``altered``: a record's content does not match its own hash (a byte changed).
- ``link_broken``: a record's hash is not what the next record links to (the record
  was rewritten with a recomputed hash, or reordered). Names the earlier record.
- ``body_mismatch``: an encrypted body fails to decrypt or its digest differs (only
  with the encryption key), or a clear body's digest differs.
- ``checkpoint_signature``: a checkpoint's JWS does not verify (or names an unknown
  key), or its stored payload differs from what was signed. Names the checkpoint.
- ``checkpoint_chain``: a checkpoint's ``prev`` is not the hash of the checkpoint
  before it (one was deleted or rewritten in between), or a version 1 checkpoint
  follows a chained one. Names the later checkpoint.
- ``checkpoint_mismatch``: a checkpoint signed a head the chain does not have (the
  record changed, or was deleted from the tail). Names the record.
- ``anchor_*`` and ``timestamp_*``: see :mod:`gateway.store.evidence_outside` (the
  anchors are checked when witnesses are given, e.g. every host's anchor file, the
  tokens when TSA certificates are).
- Checkpoints are verified with any key the lookup knows, retired or not: evidence
  outlives the retention of envelope keys.
- Not failures, reported as :class:`Tail`: records after the last checkpoint covering
  them (``uncovered``) and after the last time-stamped one (``unstamped``); and the
  checkpoints after the last anchored one (``unanchored``).
- Records and checkpoints are streamed; memory is bounded by the number of chains.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import Engine, select, tuple_

from gateway.store.anchors import Witness
from gateway.store.db import READ_ONLY
from gateway.store.evidence_format import (
    GENESIS,
    check_encryption_key,
    checkpoint_hash,
    decrypt_body,
    record_hash,
    sha256_hex,
)
from gateway.store.evidence_outside import AnchorSummary, check_anchors, check_tokens
from gateway.store.evidence_report import Problem, Tail, VerifyReport
from gateway.store.schema import evidence_checkpoints, evidence_records
from gateway.store.signatures import CheckpointVerifier
from gateway.store.timestamps import TsaTrust

__all__ = ["Problem", "Tail", "VerifyReport", "verify"]


@dataclass(frozen=True)
class _SignedHead:
    checkpoint_id: int
    chain_id: str
    seq: int
    hash: str


def _checkpoints(
    engine: Engine, verifier: CheckpointVerifier, problems: list[Problem], batch_size: int
) -> Iterator[tuple[int, list[_SignedHead]]]:
    """Stream checkpoints in id order: check each one's link to the one before it, and
    yield (id, the heads it signed) for each whose signature verifies; note the rest."""
    options = {READ_ONLY: True, "stream_results": True, "yield_per": batch_size}
    previous: tuple[int, str] | None = None  # (id, hash) of the checkpoint before
    chained = False  # a version 2 checkpoint was seen: every later one must link
    with engine.connect().execution_options(**options) as connection:
        rows = connection.execute(select(evidence_checkpoints).order_by(evidence_checkpoints.c.id))
        for row in rows.mappings():
            checkpoint_id = int(row["id"])
            heads, version, prev = _signed(row, verifier, problems)
            expected = GENESIS if previous is None else previous[1]
            before = "no checkpoint" if previous is None else f"checkpoint {previous[0]}"
            if version == 2:
                chained = True
                if prev != expected:
                    problems.append(
                        Problem(
                            "checkpoint_chain", None, None, checkpoint_id,
                            f"does not link to {before} before it: a checkpoint in between"
                            " was deleted, or that one was rewritten",
                        )
                    )  # fmt: skip
            elif version == 1 and chained:
                problems.append(
                    Problem("checkpoint_chain", None, None, checkpoint_id,
                            "an unchained (version 1) checkpoint after chained ones")
                )  # fmt: skip
            previous = (checkpoint_id, checkpoint_hash(row["jws"]))
            if heads is not None:
                yield checkpoint_id, heads


def _signed(
    row: Any, verifier: CheckpointVerifier, problems: list[Problem]
) -> tuple[list[_SignedHead] | None, int | None, str | None]:
    """(heads, version, prev) of a checkpoint whose signature verifies; (None, version of
    the stored payload if readable, None) after noting the problem otherwise."""
    checkpoint_id = int(row["id"])
    try:
        claimed = json.loads(row["payload"])
        version = int(claimed.get("v", 1))
    except (ValueError, TypeError, AttributeError):
        version = None
    try:
        signed = verifier.verify_checkpoint(row["jws"], row["kid"])
        payload: dict[str, Any] = json.loads(signed)
    except ValueError as error:
        problems.append(Problem("checkpoint_signature", None, None, checkpoint_id, str(error)))
        return None, version, None
    if (
        signed.decode("utf-8") != row["payload"]
        or payload.get("writer") != row["writer_chain_id"]
    ):
        problems.append(
            Problem(
                "checkpoint_signature", None, None, checkpoint_id,
                "stored payload differs from the signed one",
            )
        )  # fmt: skip
        return None, version, None
    heads = [
        _SignedHead(checkpoint_id, chain_id, int(head["seq"]), str(head["hash"]))
        for chain_id, head in sorted(payload.get("heads", {}).items())
    ]
    return heads, int(payload.get("v", 1)), payload.get("prev")


def _walk(
    rows: Iterable[Any],
    cipher: Any,
    last_seq: dict[str, int],
    problems: list[Problem],
) -> int:
    count = 0
    chain: str | None = None
    expected, prev_hash, prev_seq, failed = 1, GENESIS, 0, False
    for row in rows:
        count += 1
        if row.chain_id != chain:
            chain, expected, prev_hash, prev_seq, failed = row.chain_id, 1, GENESIS, 0, False
        last_seq[row.chain_id] = int(row.seq)
        stored = row.hash
        if failed:
            continue
        blob = None if row.body_blob is None else bytes(row.body_blob)
        seq = int(row.seq)
        problem: Problem | None = None
        if seq != expected:
            problem = Problem(
                "missing",
                row.chain_id,
                expected,
                None,
                f"record #{expected} is absent (the chain goes from #{prev_seq} to #{seq})",
            )
        else:
            actual = record_hash(
                chain_id=row.chain_id, seq=seq, at=row.at, direction=row.direction,
                partner=row.partner, message_id=row.message_id, correlation_id=row.correlation_id,
                dossier_code=row.dossier_code, body_sha256=row.body_sha256,
                body_policy=row.body_policy, body_blob=blob, signature=row.signature,
                prev_hash=row.prev_hash,
            )  # fmt: skip
            if actual != stored:
                problem = Problem(
                    "altered", row.chain_id, seq, None, "content does not match its hash"
                )
            elif row.prev_hash != prev_hash:
                problem = Problem(
                    "link_broken", row.chain_id, prev_seq, None,
                    f"record #{seq} links to another hash than this record has",
                )  # fmt: skip
            else:
                problem = _body_problem(row, blob, cipher)
        if problem is not None:
            problems.append(problem)
            failed = True
            continue
        expected, prev_hash, prev_seq = seq + 1, stored, seq
    return count


def _body_problem(row: Any, blob: bytes | None, cipher: Any) -> Problem | None:
    if row.body_policy == "none" and blob is not None and sha256_hex(blob) != row.body_sha256:
        return Problem(
            "body_mismatch", row.chain_id, int(row.seq), None, "clear body digest differs"
        )
    if row.body_policy == "encrypted" and cipher is not None:
        try:
            body = decrypt_body(cipher, blob or b"", row.chain_id, int(row.seq))
        except (InvalidTag, ValueError):
            return Problem(
                "body_mismatch", row.chain_id, int(row.seq), None, "body does not decrypt"
            )
        if sha256_hex(body) != row.body_sha256:
            return Problem("body_mismatch", row.chain_id, int(row.seq), None, "body digest differs")
    return None


def _stored_hashes(engine: Engine, heads: list[_SignedHead]) -> dict[tuple[str, int], str]:
    keys = [(head.chain_id, head.seq) for head in heads]
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        rows = connection.execute(
            select(
                evidence_records.c.chain_id, evidence_records.c.seq, evidence_records.c.hash
            ).where(tuple_(evidence_records.c.chain_id, evidence_records.c.seq).in_(keys))
        )
        return {(row.chain_id, int(row.seq)): row.hash for row in rows}


def _head_problem(head: _SignedHead, stored: str | None, last_seq: dict[str, int]) -> Problem:
    if stored is not None:
        detail = f"checkpoint {head.checkpoint_id} signed another hash for this record"
        return Problem("checkpoint_mismatch", head.chain_id, head.seq, head.checkpoint_id, detail)
    end = last_seq.get(head.chain_id, 0)
    detail = (
        f"record absent; checkpoint {head.checkpoint_id} signed the chain up to"
        f" #{head.seq}, the chain ends at #{end}"
    )
    named = end + 1 if end < head.seq else head.seq
    return Problem("checkpoint_mismatch", head.chain_id, named, head.checkpoint_id, detail)


def verify(
    engine: Engine,
    verifier: CheckpointVerifier,
    *,
    encryption_key: bytes | None = None,
    batch_size: int = 2000,
    witness: Witness | Sequence[Witness] | None = None,
    tsa_trust: TsaTrust | None = None,
) -> VerifyReport:
    """Walk every chain, then the tokens, every checkpoint and the anchors; see the
    module rules.

    Memory stays bounded by the number of chains: records and checkpoints are
    streamed, and each checkpoint's heads are looked up by primary key.
    """
    cipher = check_encryption_key(encryption_key)
    last_seq: dict[str, int] = {}
    record_problems: list[Problem] = []
    options = {READ_ONLY: True, "stream_results": True, "yield_per": batch_size}
    with engine.connect().execution_options(**options) as conn:
        rows = conn.execute(
            select(evidence_records).order_by(evidence_records.c.chain_id, evidence_records.c.seq)
        )
        records = _walk(rows, cipher, last_seq, record_problems)
    failed_chains = {p.chain_id for p in record_problems}
    checkpoint_problems: list[Problem] = []
    notes: list[str] = []
    stamps = check_tokens(engine, tsa_trust, checkpoint_problems, notes)
    covered: dict[str, int] = {}  # per chain: the highest seq a valid checkpoint signed
    stamped: dict[str, int] = {}  # ... one at or before the last time-stamped checkpoint
    checkpoints = 0
    checkpoint_ids: list[int] = []
    for checkpoint_id, heads in _checkpoints(engine, verifier, checkpoint_problems, batch_size):
        checkpoints += 1
        checkpoint_ids.append(checkpoint_id)
        for head in heads:
            covered[head.chain_id] = max(covered.get(head.chain_id, 0), head.seq)
            if checkpoint_id <= stamps.last_stamped:
                stamped[head.chain_id] = max(stamped.get(head.chain_id, 0), head.seq)
        heads = [head for head in heads if head.chain_id not in failed_chains]
        if not heads:
            continue
        stored = _stored_hashes(engine, heads)
        for head in heads:
            found = stored.get((head.chain_id, head.seq))
            if found != head.hash and head.chain_id not in failed_chains:
                record_problems.append(_head_problem(head, found, last_seq))
                failed_chains.add(head.chain_id)  # the chain's first failure is named
    checkpoints += sum(1 for p in checkpoint_problems if p.reason == "checkpoint_signature")
    anchor_problems: list[Problem] = []
    witnesses = [witness] if isinstance(witness, Witness) else list(witness or ())
    summaries = [check_anchors(engine, w, anchor_problems) for w in witnesses]
    anchors = (
        AnchorSummary(sum(a.lines for a in summaries), max(a.last_anchored for a in summaries))
        if summaries
        else None
    )
    record_problems.sort(key=lambda p: (p.chain_id or "", p.seq or 0))
    return VerifyReport(
        chains=len(last_seq),
        records=records,
        checkpoints=checkpoints,
        problems=tuple(record_problems + checkpoint_problems + anchor_problems),
        uncovered=_tails(last_seq, covered),
        anchors=anchors.lines if anchors is not None else 0,
        unanchored=tuple(
            i for i in checkpoint_ids if anchors is not None and i > anchors.last_anchored
        ),
        anchors_checked=anchors is not None,
        stamps=stamps.tokens,
        last_stamp=stamps.last_gen_time,
        unstamped=_tails(last_seq, stamped) if tsa_trust is not None else (),
        stamps_checked=tsa_trust is not None,
        notes=tuple(notes),
    )


def _tails(last_seq: dict[str, int], covered: dict[str, int]) -> tuple[Tail, ...]:
    return tuple(
        Tail(chain_id, covered.get(chain_id, 0) + 1, end)
        for chain_id, end in sorted(last_seq.items())
        if end > covered.get(chain_id, 0)
    )
