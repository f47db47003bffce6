"""The store's tables, as SQLAlchemy Core metadata: the runtime view of the migrations.

Rules:
- One :data:`metadata` for every table of the store: messages and their outbox, the
  worker's ledger, idempotency records, audit and evidence (revision 0001 onwards), and the
  flows' own state (revision 0003: ``dossier_states``, ``payments``, ``portal_nonces``);
  ``messages.due_at`` for the re-drive from the store (revision 0006).
- Alembic owns the schema: a change here needs a new revision in
  ``gateway/migrations/versions`` (tests compare the two).
- ``audit`` and the ``evidence_*`` tables are append-only: the migrations add triggers
  refusing UPDATE and DELETE (and, on PostgreSQL, TRUNCATE); the code never issues them.
- Ids are strings chosen by the gateway (message ids, chain ids); event and audit rows
  use an integer surrogate key only to keep insertion order.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from gateway.store.db import UTCDateTime

metadata = MetaData()

# BigInteger autoincrement on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")

messages = Table(
    "messages",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("correlation_id", String(128), nullable=False),
    Column("dossier_code", String(64), nullable=True),
    Column("partner", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("body", LargeBinary, nullable=False),
    Column("jws", Text, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("replay_of", String(64), nullable=True),
    # when the delay tier the worker last sent the message to gives it back (revision 0006);
    # NULL: never sent to a tier. Read only with a non-final status (gateway.messaging.redrive)
    Column("due_at", UTCDateTime, nullable=True),
    Index("ix_messages_status_updated", "status", "updated_at"),
    Index("ix_messages_status_due", "status", "due_at"),
    Index("ix_messages_created", "created_at"),
    Index("ix_messages_dossier", "dossier_code"),
    Index("ix_messages_partner_type", "partner", "type"),
)

message_events = Table(
    "message_events",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("message_id", String(64), ForeignKey("messages.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("event", String(32), nullable=False),
    Column("status", String(16), nullable=True),
    Column("attempt", Integer, nullable=True),
    Column("detail", Text, nullable=True),
    Index("ix_message_events_message", "message_id", "id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("message_id", String(64), ForeignKey("messages.id"), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("available_at", UTCDateTime, nullable=False),
    Index("ix_outbox_available", "available_at"),
)

processed = Table(
    "processed",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("message_id", String(64), primary_key=True),
    Column("state", String(8), nullable=False),
    Column("token", String(32), nullable=False),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("claims", Integer, nullable=False, default=1),
    Column("outcome", JSON, nullable=True),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
    # the worker process holding the claim (revision 0004); NULL: lease only
    Column("worker_id", String(96), nullable=True),
    Index("ix_processed_worker", "worker_id", "state"),
)

workers = Table(
    "workers",
    metadata,
    Column("worker_id", String(96), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime, nullable=True),
)

idempotency = Table(
    "idempotency",
    metadata,
    Column("caller", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=True),
    Column("response_body", LargeBinary, nullable=True),
    Column("response_headers", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_idempotency_expires", "expires_at"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", JSON, nullable=True),
    Index("ix_audit_at", "at"),
    Index("ix_audit_target", "target"),
)

evidence_records = Table(
    "evidence_records",
    metadata,
    Column("chain_id", String(96), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("direction", String(3), nullable=False),
    Column("partner", String(32), nullable=False),
    Column("message_id", String(64), nullable=True),
    Column("correlation_id", String(128), nullable=True),
    Column("dossier_code", String(64), nullable=True),
    Column("body_sha256", String(64), nullable=False),
    Column("body_policy", String(9), nullable=False),
    Column("body_blob", LargeBinary, nullable=True),
    Column("signature", Text, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_evidence_records_message", "message_id"),
    Index("ix_evidence_records_at", "at"),
)

evidence_checkpoints = Table(
    "evidence_checkpoints",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("writer_chain_id", String(96), nullable=False),
    Column("kid", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("jws", Text, nullable=False),
    Index("ix_evidence_checkpoints_writer", "writer_chain_id", "id"),
)

# RFC 3161 tokens on checkpoints (gateway.store.timestamps): one per checkpoint, written
# when the TSA answers (possibly long after the checkpoint: retried by the periodic job)
evidence_timestamps = Table(
    "evidence_timestamps",
    metadata,
    Column("checkpoint_id", BigInteger, primary_key=True, autoincrement=False),
    Column("checkpoint_hash", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("gen_time", UTCDateTime, nullable=False),
    Column("tsa", String(255), nullable=False),
    Column("token", LargeBinary, nullable=False),
)

# every chain that ever wrote a record (written with its first record): what a sealer
# looks at to find chains whose writer died without a final checkpoint
evidence_chains = Table(
    "evidence_chains",
    metadata,
    Column("chain_id", String(96), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
)

# the heads each checkpoint covered (a work list for sealing; the signed payload is
# the evidence, this index is not trusted by verification)
evidence_checkpoint_heads = Table(
    "evidence_checkpoint_heads",
    metadata,
    Column("chain_id", String(96), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("checkpoint_id", BigInteger, primary_key=True, autoincrement=False),
)

EVIDENCE_TABLES = (
    "evidence_records",
    "evidence_checkpoints",
    "evidence_timestamps",
    "evidence_chains",
    "evidence_checkpoint_heads",
)
APPEND_ONLY_TABLES = ("audit", *EVIDENCE_TABLES)


# -- the flows' state (revision 0003) --------------------------------------------------

# the last status the gateway accepted for each dossier: an illegal transition is refused
# at the API before anything is queued (gateway.store.dossier_states)
dossier_states = Table(
    "dossier_states",
    metadata,
    Column("dossier_code", String(64), primary_key=True),
    Column("status", Integer, nullable=False),
    Column("last_message_id", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# every INIT the gateway made; the confirm callback and reconciliation move a payment to
# ``paid`` exactly once (gateway.store.payments)
payments = Table(
    "payments",
    metadata,
    Column("reference", String(64), primary_key=True),
    Column("dossier_code", String(64), nullable=False),
    Column("procedure_code", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),  # pending | paid | failed
    Column("payment_url", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("paid_at", UTCDateTime, nullable=True),
    Column("paid_via", String(16), nullable=True),  # callback | reconciliation | query
    Column("transaction_id", String(64), nullable=True),
    Column("bank_code", String(32), nullable=True),
    Column("confirm_message_id", String(64), nullable=True),
    Column("caller", String(64), nullable=False),
    Index("ix_payments_dossier_code", "dossier_code"),
    Index("ix_payments_state_created", "state", "created_at"),
)

# nonces of portal pushes seen within the replay window, shared by every ``serve``
# process through the database (gateway.store.nonces)
portal_nonces = Table(
    "portal_nonces",
    metadata,
    Column("nonce", String(128), primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
    Index("ix_portal_nonces_seen_at", "seen_at"),
)


# The embedded transport's queue (gateway.messaging.embedded; revision 0002).
queue_messages = Table(
    "queue_messages",
    metadata,
    Column("id", _SERIAL, primary_key=True),
    Column("queue", String(160), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("type", String(64), nullable=False),
    Column("correlation_id", String(128), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("enqueued_at", UTCDateTime, nullable=False),
    Column("visible_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Index("ix_queue_messages_queue_visible", "queue", "visible_at"),
    Index("ix_queue_messages_message_id", "message_id"),
)
