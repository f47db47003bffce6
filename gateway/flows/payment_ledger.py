"""The payments the gateway created, in SQL: the :class:`PaymentLedger` of reconciliation.

Rules:
- A row is written when INIT succeeded; its state moves ``pending`` → ``paid`` or
  ``failed`` exactly once, by an atomic ``UPDATE ... WHERE state = 'pending'`` whose row
  count says whether this caller made the change.
- ``confirm_message_id`` is set once the ``city.payment.confirmed`` event is stored; a
  paid row without it (a crash between marking and announcing) is found by
  :meth:`unannounced` and announced by the next reconciliation run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from adapters.payment.reconcile import UnfinishedPayment, Via
from adapters.payment.records import KnownTransaction
from gateway.flows.tables import payments
from gateway.store.db import read_tx, utcnow, write_tx


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


class SqlPaymentLedger:
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
        now = at or utcnow()
        with write_tx(self._engine) as connection:
            connection.execute(
                payments.insert().values(
                    reference=reference,
                    dossier_code=dossier_code,
                    procedure_code=procedure_code,
                    amount=amount,
                    state="pending",
                    payment_url=payment_url,
                    created_at=now,
                    updated_at=now,
                    caller=caller,
                )
            )

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

    def _finish(self, reference: str, state: str, via: str, **values: object) -> bool:
        now = utcnow()
        with write_tx(self._engine) as connection:
            result = connection.execute(
                update(payments)
                .where(payments.c.reference == reference)
                .where(payments.c.state == "pending")
                .values(state=state, paid_via=via, updated_at=now, **values)
            )
        return result.rowcount == 1

    def mark_paid(self, reference: str, via: Via | str) -> bool:
        return self._finish(reference, "paid", via, paid_at=utcnow())

    def mark_failed(self, reference: str, via: Via | str) -> bool:
        return self._finish(reference, "failed", via)

    def set_announced(self, reference: str, message_id: str, transaction_id: str) -> None:
        with write_tx(self._engine) as connection:
            connection.execute(
                update(payments)
                .where(payments.c.reference == reference)
                .values(
                    confirm_message_id=message_id,
                    transaction_id=transaction_id,
                    updated_at=utcnow(),
                )
            )

    def unannounced(self, before: datetime) -> list[PaymentRow]:
        """Paid rows whose event was never stored (a crash between the two steps)."""
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
