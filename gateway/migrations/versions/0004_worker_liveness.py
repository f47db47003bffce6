"""Worker liveness: the registry of worker processes, and the worker holding each claim.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Frozen: states ``workers`` and ``processed.worker_id`` as of revision 0004.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("worker_id", sa.String(96), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=False),
        sa.Column("stopped_at", TS, nullable=True),
    )
    with op.batch_alter_table("processed") as batch:
        batch.add_column(sa.Column("worker_id", sa.String(96), nullable=True))
    op.create_index("ix_processed_worker", "processed", ["worker_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_processed_worker", table_name="processed")
    with op.batch_alter_table("processed") as batch:
        batch.drop_column("worker_id")
    op.drop_table("workers")
