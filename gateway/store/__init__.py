"""The gateway's SQL store (SQLAlchemy 2 Core; SQLite by default, PostgreSQL in production).

One engine, several small stores over it, each with its rules in its module docstring:

    make_engine(url) / upgrade(url)      gateway.store.db         engines, transactions, Alembic
    MessageStore                         gateway.store.messages   messages, timeline, outbox
    Ledger                               gateway.store.ledger     processed-message ledger
    IdempotencyStore                     gateway.store.idempotency  API Idempotency-Key records
    AuditTrail                           gateway.store.audit      append-only operator actions
    EvidenceLog / verify                 gateway.store.evidence   hash-chained evidence log
"""

from __future__ import annotations

from gateway.store.audit import AuditEntry, AuditTrail
from gateway.store.db import current_revision, make_engine, read_tx, upgrade, write_tx
from gateway.store.evidence import (
    EvidenceEntry,
    EvidenceLog,
    EvidenceReceipt,
    Problem,
    VerifyReport,
    verify,
)
from gateway.store.idempotency import (
    IdempotencyResult,
    IdempotencyStore,
    StoredResponse,
    request_hash,
)
from gateway.store.ledger import Claim, Ledger
from gateway.store.messages import (
    Acceptance,
    EventKind,
    EventRecord,
    MessageStore,
    MessageView,
    TimelineEvent,
)

__all__ = [
    "Acceptance",
    "AuditEntry",
    "AuditTrail",
    "Claim",
    "EventKind",
    "EventRecord",
    "EvidenceEntry",
    "EvidenceLog",
    "EvidenceReceipt",
    "IdempotencyResult",
    "IdempotencyStore",
    "Ledger",
    "MessageStore",
    "MessageView",
    "Problem",
    "StoredResponse",
    "TimelineEvent",
    "VerifyReport",
    "current_revision",
    "make_engine",
    "read_tx",
    "request_hash",
    "upgrade",
    "verify",
    "write_tx",
]
