"""Embedded transport: the durable queue table used when no broker is configured.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Frozen: states the ``queue_messages`` table as ``gateway.messaging.embedded`` expects it
at revision 0002; it must not import the runtime metadata.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "queue_messages",
        sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(160), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("enqueued_at", TS, nullable=False),
        sa.Column("visible_at", TS, nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
    )
    op.create_index("ix_queue_messages_queue_visible", "queue_messages", ["queue", "visible_at"])
    op.create_index("ix_queue_messages_message_id", "queue_messages", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_queue_messages_message_id", table_name="queue_messages")
    op.drop_index("ix_queue_messages_queue_visible", table_name="queue_messages")
    op.drop_table("queue_messages")
