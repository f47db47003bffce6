"""Exporting a self-contained evidence bundle for a dossier or a message.

What it is for: ``tthc-gateway log export --dossier CODE | --message ID --out FILE``;
a third party verifies the file offline with :mod:`gateway.ops.bundle_verify`.

The bundle (JSON, ``format`` ``tthc-evidence-bundle``, ``version`` 1):
- ``subject``: ``{"dossier_code": ...}`` or ``{"message_id": ...}``;
- ``records``: for every chain holding a subject record, the contiguous run from the
  first subject record to the head signed by the checkpoint that covers the last one
  (the links in between connect them); each record has the hashed fields (the
  stored body blob replaced by its SHA-256, ``blob_sha256``), its ``hash`` and
  ``subject`` (true for the records about the subject). Link records show other
  records' metadata (ids, dossier codes, digests), never a body;
- ``checkpoints``: the signed checkpoints chosen (for each chain, the first one whose
  head is at or after the chain's last subject record; failing that, the latest) and,
  when a chosen one has no time-stamp token, the checkpoints after it up to the first
  that has one (at most :data:`MAX_STAMP_RUN`): each signs the previous one's hash
  (``prev``), so that token dates the chosen checkpoint too;
- ``timestamps`` (version 2): ``[{"checkpoint_id", "token"}]``, the RFC 3161 tokens
  (DER TimeStampResp, base64) of the bundle's checkpoints that have one;
- ``tsa_certificates`` (version 2): the PEM bundle the tokens chain to, when the
  exporter has it (a careful verifier gives its own copy instead);
- ``jwks``: the public keys of those checkpoints (retired ones too).

Rules: the export is an operator action, recorded in the audit trail with the
bundle's SHA-256. A key no longer on disk (pruned) fails the export naming it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select

from gateway.domain.errors import InvalidInput, NotFound
from gateway.keys import KeyLookup
from gateway.ops.bundle_verify import BUNDLE_FORMAT, BUNDLE_VERSION
from gateway.store.audit import AuditTrail
from gateway.store.db import read_tx
from gateway.store.evidence_format import iso_time, sha256_hex
from gateway.store.schema import evidence_checkpoints, evidence_records, evidence_timestamps

MAX_STAMP_RUN = 200  # checkpoints carried to reach a time-stamped one


@dataclass(frozen=True)
class ExportResult:
    bundle: dict[str, Any]
    data: bytes
    sha256: str
    records: int
    subject_records: int
    checkpoints: int
    audit_id: int


def _record_json(row: Any, subject: bool) -> dict[str, Any]:
    blob = None if row.body_blob is None else bytes(row.body_blob)
    return {
        "chain_id": row.chain_id,
        "seq": int(row.seq),
        "at": iso_time(row.at),
        "direction": row.direction,
        "partner": row.partner,
        "message_id": row.message_id,
        "correlation_id": row.correlation_id,
        "dossier_code": row.dossier_code,
        "body_sha256": row.body_sha256,
        "body_policy": row.body_policy,
        "blob_sha256": None if blob is None else sha256_hex(blob),
        "signature": row.signature,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
        "subject": subject,
    }


def _choose_checkpoints(
    checkpoints: Sequence[Any], last_subject_seq: dict[str, int]
) -> dict[str, tuple[Any, int]]:
    """Per chain: (checkpoint row, its head seq) of the best checkpoint (see module)."""
    best: dict[str, tuple[Any, int]] = {}
    for row in checkpoints:
        heads = json.loads(row.payload).get("heads", {})
        for chain_id, last in last_subject_seq.items():
            if chain_id not in heads:
                continue
            seq = int(heads[chain_id]["seq"])
            current = best.get(chain_id)
            if current is None:
                best[chain_id] = (row, seq)
                continue
            covers, current_covers = seq >= last, current[1] >= last
            if (covers and (not current_covers or seq < current[1])) or (
                not covers and not current_covers and seq > current[1]
            ):
                best[chain_id] = (row, seq)
    return best


def _stamp_runs(connection: Connection, chosen: list[Any]) -> tuple[list[Any], dict[int, bytes]]:
    """The chosen checkpoints, the runs from each to the first time-stamped one at or
    after it, and the tokens of those that have one."""
    rows: dict[int, Any] = {int(row.id): row for row in chosen}
    for row in chosen:
        stamped = connection.execute(
            select(func.min(evidence_timestamps.c.checkpoint_id)).where(
                evidence_timestamps.c.checkpoint_id >= row.id
            )
        ).scalar()
        if stamped is None or stamped == row.id:
            continue
        run = connection.execute(
            select(evidence_checkpoints)
            .where(evidence_checkpoints.c.id > row.id, evidence_checkpoints.c.id <= stamped)
            .order_by(evidence_checkpoints.c.id)
            .limit(MAX_STAMP_RUN + 1)
        ).all()
        if len(run) <= MAX_STAMP_RUN:
            rows.update({int(r.id): r for r in run})
    tokens = {
        int(t.checkpoint_id): bytes(t.token)
        for t in connection.execute(
            select(evidence_timestamps.c.checkpoint_id, evidence_timestamps.c.token).where(
                evidence_timestamps.c.checkpoint_id.in_(list(rows))
            )
        )
    }
    return [rows[i] for i in sorted(rows)], tokens


def build_bundle(
    engine: Engine,
    keys: KeyLookup,
    *,
    dossier_code: str | None = None,
    message_id: str | None = None,
    tsa_certificates: bytes | None = None,
) -> dict[str, Any]:
    """The bundle for one dossier or one message (no audit; see :func:`export_bundle`)."""
    if (dossier_code is None) == (message_id is None):
        raise InvalidInput("export: give exactly one of --dossier or --message", field="dossier")
    if dossier_code is not None:
        subject: dict[str, str] = {"dossier_code": dossier_code}
        wanted = evidence_records.c.dossier_code == dossier_code
    else:
        assert message_id is not None
        subject = {"message_id": message_id}
        wanted = evidence_records.c.message_id == message_id
    with read_tx(engine) as connection:
        subjects = list(
            connection.execute(
                select(evidence_records.c.chain_id, evidence_records.c.seq).where(wanted)
            )
        )
        if not subjects:
            raise NotFound(f"export: no evidence record for {next(iter(subject.values()))}")
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        subject_keys = {(r.chain_id, int(r.seq)) for r in subjects}
        for chain_id, seq in subject_keys:
            first[chain_id] = min(seq, first.get(chain_id, seq))
            last[chain_id] = max(seq, last.get(chain_id, seq))
        candidates = []
        for row in connection.execute(
            select(evidence_checkpoints).order_by(evidence_checkpoints.c.id)
        ):
            if any(chain_id in row.payload for chain_id in last):
                candidates.append(row)
        chosen = _choose_checkpoints(candidates, last)
        records: list[dict[str, Any]] = []
        for chain_id in sorted(last):
            end = max(last[chain_id], chosen[chain_id][1] if chain_id in chosen else 0)
            rows = connection.execute(
                select(evidence_records)
                .where(
                    and_(
                        evidence_records.c.chain_id == chain_id,
                        evidence_records.c.seq >= first[chain_id],
                        evidence_records.c.seq <= end,
                    )
                )
                .order_by(evidence_records.c.seq)
            )
            records.extend(
                _record_json(row, (chain_id, int(row.seq)) in subject_keys) for row in rows
            )
        unique = {int(row.id): row for row, _ in chosen.values()}
        included, tokens = _stamp_runs(connection, [unique[i] for i in sorted(unique)])
    checkpoint_rows = {int(row.id): row for row in included}
    jwks: list[dict[str, Any]] = []
    for kid in sorted({row.kid for row in checkpoint_rows.values()}):
        info = keys.lookup(kid)
        if info is None:
            raise NotFound(f"export: key {kid} (signed a checkpoint) is not in the key store")
        jwk = dict(info.key.as_dict(private=False))
        jwk.update({"kid": kid, "alg": info.algorithm, "use": "sig"})
        jwks.append(jwk)
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "created_at": iso_time(datetime.now(UTC)),
        "subject": subject,
        "records": records,
        "checkpoints": [
            {
                "id": int(row.id),
                "at": iso_time(row.at),
                "writer_chain_id": row.writer_chain_id,
                "kid": row.kid,
                "jws": row.jws,
            }
            for _, row in sorted(checkpoint_rows.items())
        ],
        "timestamps": [
            {"checkpoint_id": checkpoint_id, "token": base64.b64encode(token).decode("ascii")}
            for checkpoint_id, token in sorted(tokens.items())
        ],
        "tsa_certificates": None if tsa_certificates is None else tsa_certificates.decode(),
        "jwks": {"keys": jwks},
    }


def export_bundle(
    engine: Engine,
    keys: KeyLookup,
    audit: AuditTrail,
    *,
    actor: str,
    reason: str,
    dossier_code: str | None = None,
    message_id: str | None = None,
    tsa_certificates: bytes | None = None,
) -> ExportResult:
    """Build the bundle, serialise it, and record the export in the audit trail."""
    bundle = build_bundle(
        engine,
        keys,
        dossier_code=dossier_code,
        message_id=message_id,
        tsa_certificates=tsa_certificates,
    )
    data = json.dumps(bundle, indent=1, ensure_ascii=False, sort_keys=True).encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    target = f"dossier:{dossier_code}" if dossier_code is not None else f"message:{message_id}"
    subject_count = sum(1 for r in bundle["records"] if r["subject"])
    entry = audit.record(
        actor,
        "export",
        target,
        reason,
        {
            "bundle_sha256": digest,
            "records": len(bundle["records"]),
            "subject_records": subject_count,
            "checkpoints": len(bundle["checkpoints"]),
            "timestamps": len(bundle["timestamps"]),
        },
    )
    return ExportResult(
        bundle,
        data,
        digest,
        len(bundle["records"]),
        subject_count,
        len(bundle["checkpoints"]),
        entry.id,
    )
