"""Writing evidence checkpoints: one chain of signed checkpoints over every writer's chain.

What it is for: :class:`gateway.store.evidence.EvidenceLog` decides *when* to checkpoint;
this module is the SQL of *how*: the heads to cover, the link to the previous
checkpoint, the chain registry and the chains a dead writer left open.

Rules:
- Checkpoints form one chain across all writers: each signs the hash of the checkpoint
  with the highest id before it. Writing one is serialized across processes (a
  transaction-scoped advisory lock on PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite), so
  ids follow the chain. Only checkpoints are serialized, never record appends.
- Each checkpoint also lists the heads it covered in ``evidence_checkpoint_heads``, a
  work list for sealing (verification trusts only the signed payload).
- A chain is registered in ``evidence_chains`` before its first record, so a writer
  that dies before its first checkpoint is still found.
- A chain is *open* when its last record is beyond the highest sequence any checkpoint
  covered. :func:`open_chains` finds them with index look-ups per registered chain (no
  scan of the records).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, func, select

from gateway.store.db import insert_ignore, write_tx
from gateway.store.evidence_format import GENESIS, checkpoint_hash, checkpoint_payload
from gateway.store.schema import (
    evidence_chains,
    evidence_checkpoint_heads,
    evidence_checkpoints,
    evidence_records,
)
from gateway.store.signatures import CheckpointSigner

CHECKPOINT_LOCK = 0x7474_6863_6B70  # "tthckp": the advisory lock id for the checkpoint chain

Heads = dict[str, tuple[int, str]]


@dataclass(frozen=True)
class WrittenCheckpoint:
    id: int
    hash: str
    at: datetime
    writer: str
    jws: str


def register_chain(engine: Engine, chain_id: str, started_at: datetime) -> None:
    """Record that ``chain_id`` exists (idempotent)."""
    with write_tx(engine) as connection:
        connection.execute(
            insert_ignore(connection, evidence_chains).values(
                chain_id=chain_id, started_at=started_at
            )
        )


def heads_since(connection: Connection, since: datetime, exclude: str) -> Heads:
    """The last record of every other chain that wrote a record at or after ``since``."""
    latest = (
        select(evidence_records.c.chain_id, func.max(evidence_records.c.seq).label("seq"))
        .where(evidence_records.c.at >= since, evidence_records.c.chain_id != exclude)
        .group_by(evidence_records.c.chain_id)
        .subquery()
    )
    rows = connection.execute(
        select(evidence_records.c.chain_id, evidence_records.c.seq, evidence_records.c.hash).join(
            latest,
            and_(
                evidence_records.c.chain_id == latest.c.chain_id,
                evidence_records.c.seq == latest.c.seq,
            ),
        )
    )
    return {row.chain_id: (int(row.seq), row.hash) for row in rows}


def heads_of(connection: Connection, chains: list[str]) -> Heads:
    """The last record of each of ``chains`` (one index look-up each)."""
    heads: Heads = {}
    for chain_id in chains:
        row = connection.execute(
            select(evidence_records.c.seq, evidence_records.c.hash)
            .where(evidence_records.c.chain_id == chain_id)
            .order_by(evidence_records.c.seq.desc())
            .limit(1)
        ).first()
        if row is not None:
            heads[chain_id] = (int(row.seq), row.hash)
    return heads


def open_chains(engine: Engine, exclude: str) -> dict[str, int]:
    """Registered chains (but ``exclude``) whose last record no checkpoint covers: seq."""
    head = (
        select(func.max(evidence_records.c.seq))
        .where(evidence_records.c.chain_id == evidence_chains.c.chain_id)
        .scalar_subquery()
    )
    covered = (
        select(func.max(evidence_checkpoint_heads.c.seq))
        .where(evidence_checkpoint_heads.c.chain_id == evidence_chains.c.chain_id)
        .scalar_subquery()
    )
    query = select(evidence_chains.c.chain_id, head.label("head"), covered.label("covered")).where(
        evidence_chains.c.chain_id != exclude
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {
        row.chain_id: int(row.head)
        for row in rows
        if row.head is not None and int(row.head) > int(row.covered or 0)
    }


def _lock_chain(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({CHECKPOINT_LOCK})")


def write_checkpoint(
    connection: Connection,
    signer: CheckpointSigner,
    writer: str,
    now: datetime,
    heads: Heads,
    sealed: list[str],
) -> WrittenCheckpoint:
    """Sign and insert one checkpoint linked to the last one (see the module rules)."""
    _lock_chain(connection)
    last = connection.execute(
        select(evidence_checkpoints.c.jws).order_by(evidence_checkpoints.c.id.desc()).limit(1)
    ).scalar()
    prev = GENESIS if last is None else checkpoint_hash(last)
    payload = checkpoint_payload(writer, now, heads, prev=prev, sealed=sealed)
    kid, signed = signer.sign_checkpoint(payload)
    result = connection.execute(
        evidence_checkpoints.insert().values(
            at=now, writer_chain_id=writer, kid=kid, payload=payload.decode("utf-8"), jws=signed
        )
    )
    assert result.inserted_primary_key is not None
    checkpoint_id = int(result.inserted_primary_key[0])
    connection.execute(
        insert_ignore(connection, evidence_checkpoint_heads),
        [
            {"chain_id": chain_id, "seq": seq, "checkpoint_id": checkpoint_id}
            for chain_id, (seq, _) in sorted(heads.items())
        ],
    )
    return WrittenCheckpoint(checkpoint_id, checkpoint_hash(signed), now, writer, signed)
