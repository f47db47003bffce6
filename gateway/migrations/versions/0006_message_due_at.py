"""Re-drive from the store: when each message sent to a delay tier is due back.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

Frozen: states ``messages.due_at`` and ``ix_messages_status_due`` as of revision 0006.
``due_at`` is NULL for every existing message (none was sent to a tier with a due time
recorded); the worker sets it when it sends a message to a delay tier, and the re-drive
(``gateway.messaging.redrive``) publishes again, from the store, a message whose status is
not final and whose ``due_at`` has long passed. The index on ``(status, due_at)`` serves that
query: only the rows of the non-final statuses are read, whatever old ``due_at`` the
delivered messages keep.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("due_at", TS, nullable=True))
    op.create_index("ix_messages_status_due", "messages", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_status_due", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("due_at")
