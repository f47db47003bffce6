"""Tables the flows keep beside the message store (runtime view of migration 0003).

- ``dossier_states``: the last status the gateway accepted for each dossier, so an
  illegal transition is refused at the API before anything is queued.
- ``payments``: every INIT the gateway made (MaThamChieu, dossier, amount, state); the
  confirm callback and reconciliation move a payment to ``paid`` exactly once.
- ``portal_nonces``: nonces of portal pushes seen within the replay window, shared by
  every ``serve`` process through the database.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from gateway.store.db import UTCDateTime

metadata = MetaData()

dossier_states = Table(
    "dossier_states",
    metadata,
    Column("dossier_code", String(64), primary_key=True),
    Column("status", Integer, nullable=False),
    Column("last_message_id", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

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

portal_nonces = Table(
    "portal_nonces",
    metadata,
    Column("nonce", String(128), primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
    Index("ix_portal_nonces_seen_at", "seen_at"),
)
