"""The payments repository: every payment the gateway created, the ledger reconciliation works on.

What it is for: the payment flows (``gateway.flows.payments``) record each INIT here and
move it to ``paid`` or ``failed`` once; reconciliation (``adapters.payment.reconcile``)
uses :class:`SqlPaymentLedger` as its ``PaymentLedger`` port.

Rules:
- A row is written when INIT succeeded; its state moves ``pending`` → ``paid`` or
  ``failed`` exactly once, by an atomic ``UPDATE ... WHERE state = 'pending'`` whose row
  count says whether this caller made the change (:func:`finish`).
- ``confirm_message_id`` is set once the ``city.payment.confirmed`` event is stored
  (:func:`set_announced`, in the event's own unit of work); a paid row without it (a
  reconciliation that marked the row and died before its event) is found by
  :meth:`SqlPaymentLedger.unannounced` and announced by the next run.
- :func:`insert`, :func:`finish` and :func:`set_announced` run in the caller's write
  transaction (a unit of work's step, ``gateway.store.unit_of_work``); the ledger's own
  methods (reconciliation's port) each open one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from adapters.payment.reconcile import UnfinishedPayment, Via
from adapters.payment.records import KnownTransaction
from gateway.store.db import read_tx, utcnow, write_tx
from gateway.store.schema import payments

Finished = Literal["paid", "failed"]


@dataclass(frozen=True)
class PaymentRow:
    reference: str
    dossier_code: str
    procedure_code: str
    amount: int
    state: str
    payment_url: str
    created_at: datetime
    paid_via: str | None
    transaction_id: str | None
    confirm_message_id: str | None


@dataclass(frozen=True)
class NewPayment:
    """A payment the platform's INIT just created (``pending``)."""

    reference: str
    dossier_code: str
    procedure_code: str
    amount: int
    payment_url: str
    caller: str


def insert(connection: Connection, payment: NewPayment, at: datetime | None = None) -> None:
    """Record a new pending payment."""
    now = at or utcnow()
    connection.execute(
        payments.insert().values(
            reference=payment.reference,
            dossier_code=payment.dossier_code,
            procedure_code=payment.procedure_code,
            amount=payment.amount,
            state="pending",
            payment_url=payment.payment_url,
            created_at=now,
            updated_at=now,
            caller=payment.caller,
        )
    )


def finish(connection: Connection, reference: str, state: Finished, via: str) -> bool:
    """Move a pending payment to ``state``; True only if this call changed it."""
    now = utcnow()
    values: dict[str, object] = {"state": state, "paid_via": via, "updated_at": now}
    if state == "paid":
        values["paid_at"] = now
    result = connection.execute(
        update(payments)
        .where(payments.c.reference == reference)
        .where(payments.c.state == "pending")
        .values(**values)
    )
    return result.rowcount == 1


def set_announced(
    connection: Connection, reference: str, message_id: str, transaction_id: str
) -> None:
    """Record the stored ``city.payment.confirmed`` event of a payment."""
    connection.execute(
        update(payments)
        .where(payments.c.reference == reference)
        .values(confirm_message_id=message_id, transaction_id=transaction_id, updated_at=utcnow())
    )


class SqlPaymentLedger:
    """The payments table on one engine (see the module rules)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record_init(
        self,
        *,
        reference: str,
        dossier_code: str,
        procedure_code: str,
        amount: int,
        payment_url: str,
        caller: str,
        at: datetime | None = None,
    ) -> None:
        """Record a new pending payment in its own transaction (tests, tools)."""
        payment = NewPayment(reference, dossier_code, procedure_code, amount, payment_url, caller)
        with write_tx(self._engine) as connection:
            insert(connection, payment, at)

    def get(self, reference: str) -> PaymentRow | None:
        with read_tx(self._engine) as connection:
            row = (
                connection.execute(select(payments).where(payments.c.reference == reference))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return PaymentRow(
            reference=row["reference"],
            dossier_code=row["dossier_code"],
            procedure_code=row["procedure_code"],
            amount=int(row["amount"]),
            state=row["state"],
            payment_url=row["payment_url"],
            created_at=row["created_at"],
            paid_via=row["paid_via"],
            transaction_id=row["transaction_id"],
            confirm_message_id=row["confirm_message_id"],
        )

    def find(self, reference: str) -> KnownTransaction | None:
        row = self.get(reference)
        if row is None:
            return None
        return KnownTransaction(row.reference, row.dossier_code, row.amount, row.state == "paid")

    def list_unfinished(
        self, older_than: datetime, newer_than: datetime
    ) -> list[UnfinishedPayment]:
        query = (
            select(
                payments.c.reference,
                payments.c.dossier_code,
                payments.c.amount,
                payments.c.created_at,
            )
            .where(payments.c.state == "pending")
            .where(payments.c.created_at < older_than)
            .where(payments.c.created_at > newer_than)
            .order_by(payments.c.created_at)
        )
        with read_tx(self._engine) as connection:
            rows = connection.execute(query).all()
        return [
            UnfinishedPayment(r.reference, r.dossier_code, int(r.amount), r.created_at)
            for r in rows
        ]

    def mark_paid(self, reference: str, via: Via | str) -> bool:
        with write_tx(self._engine) as connection:
            return finish(connection, reference, "paid", via)

    def mark_failed(self, reference: str, via: Via | str) -> bool:
        with write_tx(self._engine) as connection:
            return finish(connection, reference, "failed", via)

    def unannounced(self, before: datetime) -> list[PaymentRow]:
        """Paid rows whose event was never stored (marked, then the event was lost)."""
        with read_tx(self._engine) as connection:
            references = list(
                connection.execute(
                    select(payments.c.reference)
                    .where(payments.c.state == "paid")
                    .where(payments.c.confirm_message_id.is_(None))
                    .where(payments.c.updated_at < before)
                ).scalars()
            )
        return [row for ref in references if (row := self.get(ref)) is not None]
