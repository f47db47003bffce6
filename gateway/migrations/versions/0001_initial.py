"""Initial store: messages, timeline, outbox, ledger, idempotency, audit, evidence log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Frozen: this file states the schema as of revision 0001 and must not import the
runtime metadata. ``audit``, ``evidence_records`` and ``evidence_checkpoints`` get
triggers refusing UPDATE and DELETE (append-only) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("audit", "evidence_records", "evidence_checkpoints")


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(32), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("dossier_code", sa.String(64), nullable=True),
        sa.Column("partner", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("jws", sa.Text, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("replay_of", sa.String(64), nullable=True),
    )
    op.create_index("ix_messages_status_updated", "messages", ["status", "updated_at"])
    op.create_index("ix_messages_created", "messages", ["created_at"])
    op.create_index("ix_messages_dossier", "messages", ["dossier_code"])
    op.create_index("ix_messages_partner_type", "messages", ["partner", "type"])

    op.create_table(
        "message_events",
        sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("attempt", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_message_events_message", "message_events", ["message_id", "id"])

    op.create_table(
        "outbox",
        sa.Column("message_id", sa.String(64), sa.ForeignKey("messages.id"), primary_key=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("available_at", TS, nullable=False),
    )
    op.create_index("ix_outbox_available", "outbox", ["available_at"])

    op.create_table(
        "processed",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("message_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("claims", sa.Integer, nullable=False),
        sa.Column("outcome", sa.JSON, nullable=True),
        sa.Column("claimed_at", TS, nullable=False),
        sa.Column("completed_at", TS, nullable=True),
    )

    op.create_table(
        "idempotency",
        sa.Column("caller", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("response_body", sa.LargeBinary, nullable=True),
        sa.Column("response_headers", sa.JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_index("ix_idempotency_expires", "idempotency", ["expires_at"])

    op.create_table(
        "audit",
        sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.JSON, nullable=True),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_target", "audit", ["target"])

    op.create_table(
        "evidence_records",
        sa.Column("chain_id", sa.String(96), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("partner", sa.String(32), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("correlation_id", sa.String(128), nullable=True),
        sa.Column("dossier_code", sa.String(64), nullable=True),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("body_policy", sa.String(9), nullable=False),
        sa.Column("body_blob", sa.LargeBinary, nullable=True),
        sa.Column("signature", sa.Text, nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_evidence_records_message", "evidence_records", ["message_id"])
    op.create_index("ix_evidence_records_at", "evidence_records", ["at"])

    op.create_table(
        "evidence_checkpoints",
        sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("writer_chain_id", sa.String(96), nullable=False),
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("jws", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_evidence_checkpoints_writer", "evidence_checkpoints", ["writer_chain_id", "id"]
    )

    _append_only_triggers()


def _append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION tthc_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION tthc_append_only()"
            )
    elif dialect == "sqlite":
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only'); END"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in (
        "evidence_checkpoints",
        "evidence_records",
        "audit",
        "idempotency",
        "processed",
        "outbox",
        "message_events",
        "messages",
    ):
        op.drop_table(table)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS tthc_append_only()")
