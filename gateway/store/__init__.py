"""The gateway's SQL store (SQLAlchemy 2 Core; SQLite by default, PostgreSQL in production).

One engine, several small repositories over it, each with its rules in its module
docstring; the flows write through a unit of work:

    make_engine(url) / upgrade(url)   gateway.store.db             engines, transactions, Alembic
    metadata                          gateway.store.schema         every table, one MetaData
    UnitOfWork (Protocols)            gateway.store.repositories   what the flows see
    SqlUnitOfWork, units_of_work      gateway.store.unit_of_work   one transaction per command;
                                                                   group commit / pool
    MessageStore                      gateway.store.messages       messages, timeline, outbox
    dossier_states                    gateway.store.dossier_states last accepted dossier status
    IdempotencyRecords                gateway.store.idempotency    API Idempotency-Key records
    SqlPaymentLedger                  gateway.store.payments       the payments created
    nonces                            gateway.store.nonces         portal push nonces
    Ledger                            gateway.store.ledger         processed-message ledger
    AuditTrail                        gateway.store.audit          append-only operator actions
    EvidenceLog / verify              gateway.store.evidence       hash-chained evidence log
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
    IdempotencyRecords,
    IdempotencyResult,
    KeyClaim,
    StoredResponse,
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
    "IdempotencyRecords",
    "IdempotencyResult",
    "KeyClaim",
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
    "upgrade",
    "verify",
    "write_tx",
]
