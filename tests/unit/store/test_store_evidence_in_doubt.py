"""The evidence log after a write whose COMMIT landed but whose answer was lost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from gateway.store import evidence as evidence_module
from gateway.store.db import driver_write_tx
from gateway.store.evidence import EvidenceEntry, EvidenceLog, verify
from gateway.store.schema import evidence_records
from gateway.testing import local_stack


def entry(n: int) -> EvidenceEntry:
    return EvidenceEntry(direction="out", partner="portal", body=f"body {n}".encode())


def records(log: EvidenceLog) -> list[int]:
    with log.engine.connect() as connection:
        return [
            int(seq)
            for seq in connection.execute(
                select(evidence_records.c.seq)
                .where(evidence_records.c.chain_id == log.chain_id)
                .order_by(evidence_records.c.seq)
            ).scalars()
        ]


def test_a_commit_that_landed_unanswered_is_never_numbered_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = local_stack(tmp_path)
    log = stack.evidence
    log.append_many([entry(1)])

    @contextmanager
    def committed_then_cut(engine: Any) -> Iterator[Any]:
        with driver_write_tx(engine) as transaction:
            yield transaction
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(evidence_module, "driver_write_tx", committed_then_cut)
    with pytest.raises(OperationalError):
        log.append_many([entry(2)])  # landed as seq 2, the writer did not hear it
    monkeypatch.undo()
    log.append_many([entry(3)])  # before the fix: seq 2 again, IntegrityError for ever
    assert records(log) == [1, 2, 3]
    assert verify(stack.engine, stack.keystore, encryption_key=b"k" * 32).ok  # one chain, linked


def test_a_write_that_did_not_land_is_numbered_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = local_stack(tmp_path).evidence
    log.append_many([entry(1)])

    @contextmanager
    def cut(engine: Any) -> Iterator[Any]:
        raise OperationalError("BEGIN", {}, Exception("no connection"))
        yield  # pragma: no cover

    monkeypatch.setattr(evidence_module, "driver_write_tx", cut)
    with pytest.raises(OperationalError):
        log.append_many([entry(2)])
    monkeypatch.undo()
    log.append_many([entry(3)])
    assert records(log) == [1, 2]
    with log.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(evidence_records)).scalar() == 2
