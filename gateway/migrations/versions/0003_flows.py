"""Flows: dossier states, payments, portal push nonces.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Frozen: states these tables (now in ``gateway.store.schema``) as of revision 0003.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dossier_states",
        sa.Column("dossier_code", sa.String(64), primary_key=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("last_message_id", sa.String(64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "payments",
        sa.Column("reference", sa.String(64), primary_key=True),
        sa.Column("dossier_code", sa.String(64), nullable=False),
        sa.Column("procedure_code", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("payment_url", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("paid_at", TS, nullable=True),
        sa.Column("paid_via", sa.String(16), nullable=True),
        sa.Column("transaction_id", sa.String(64), nullable=True),
        sa.Column("bank_code", sa.String(32), nullable=True),
        sa.Column("confirm_message_id", sa.String(64), nullable=True),
        sa.Column("caller", sa.String(64), nullable=False),
    )
    op.create_index("ix_payments_dossier_code", "payments", ["dossier_code"])
    op.create_index("ix_payments_state_created", "payments", ["state", "created_at"])
    op.create_table(
        "portal_nonces",
        sa.Column("nonce", sa.String(128), primary_key=True),
        sa.Column("seen_at", TS, nullable=False),
    )
    op.create_index("ix_portal_nonces_seen_at", "portal_nonces", ["seen_at"])


def downgrade() -> None:
    op.drop_table("portal_nonces")
    op.drop_index("ix_payments_state_created", table_name="payments")
    op.drop_index("ix_payments_dossier_code", table_name="payments")
    op.drop_table("payments")
    op.drop_table("dossier_states")
