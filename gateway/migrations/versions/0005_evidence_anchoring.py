"""Evidence anchoring: time-stamp tokens, the chain registry, covered heads; TRUNCATE refused.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Frozen: states ``evidence_timestamps``, ``evidence_chains`` and
``evidence_checkpoint_heads`` as of revision 0005. The new tables are append-only like
the rest of the evidence log (triggers refusing UPDATE and DELETE on SQLite and
PostgreSQL). On PostgreSQL, TRUNCATE (which skips row triggers) is refused too, by a
statement-level trigger on ``audit`` and on every ``evidence_*`` table; the function
``tthc_append_only()`` of revision 0001 raises for both kinds.

Triggers do not stop a table's owner (``ALTER TABLE ... DISABLE TRIGGER``, ``DROP``):
docs/deployment.md says how to run the application as a role that may only INSERT and
SELECT the evidence tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
NEW_TABLES = ("evidence_timestamps", "evidence_chains", "evidence_checkpoint_heads")
NO_TRUNCATE = (
    "audit",
    "evidence_records",
    "evidence_checkpoints",
    "evidence_timestamps",
    "evidence_chains",
    "evidence_checkpoint_heads",
)


def upgrade() -> None:
    op.create_table(
        "evidence_timestamps",
        sa.Column("checkpoint_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("checkpoint_hash", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("gen_time", TS, nullable=False),
        sa.Column("tsa", sa.String(255), nullable=False),
        sa.Column("token", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "evidence_chains",
        sa.Column("chain_id", sa.String(96), primary_key=True),
        sa.Column("started_at", TS, nullable=False),
    )
    op.create_table(
        "evidence_checkpoint_heads",
        sa.Column("chain_id", sa.String(96), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("checkpoint_id", sa.BigInteger, primary_key=True, autoincrement=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in NEW_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION tthc_append_only()"
            )
        for table in NO_TRUNCATE:
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION tthc_append_only()"
            )
    elif dialect == "sqlite":
        for table in NEW_TABLES:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only'); END"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in NO_TRUNCATE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    for table in reversed(NEW_TABLES):
        op.drop_table(table)
