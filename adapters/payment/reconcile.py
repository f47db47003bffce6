"""Reconciliation (đối soát): catch paid transactions whose confirm callback never came.

A periodic job (every ~30 minutes) QUERYs every unfinished transaction between 30 minutes
and 3 days old. One found paid is marked paid in the ledger and, only when that marking
changed it (the callback did not win the race), the payment-confirmed event is emitted:
so a lost callback never leaves a paid citizen waiting, and no payment is announced twice.

Rules:
- The ledger is a port (:class:`PaymentLedger`); the lead backs it by SQL. ``mark_paid``
  must be atomic (``UPDATE ... WHERE state = 'pending'``) and report whether it changed
  the row; the SQL implementation should write the event to the outbox in the same
  transaction as the marking, via ``emit``, so a crash cannot lose it.
- A transaction found failed is marked failed (no event). Pending ones are left alone.
- A paid answer whose amount differs from the ledger's is NOT confirmed: it is reported
  as a mismatch for an operator.
- One partner failure does not stop the run: it is counted and the next one is tried;
  an open circuit ends the run early (every further call would be refused anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from adapters.http import NO_CONTEXT, CallContext, CircuitOpen
from adapters.payment.records import PaymentConfirmed, PaymentState, PaymentStatus
from gateway.domain.errors import UpstreamError

MIN_AGE = timedelta(minutes=30)
MAX_AGE = timedelta(days=3)
Via = Literal["callback", "reconciliation"]


@dataclass(frozen=True)
class UnfinishedPayment:
    """A transaction created by INIT and not yet known paid or failed."""

    reference: str
    dossier_code: str
    amount: int
    created_at: datetime


class PaymentLedger(Protocol):
    def list_unfinished(
        self, older_than: datetime, newer_than: datetime
    ) -> Sequence[UnfinishedPayment]:
        """Unfinished transactions created before ``older_than`` and after ``newer_than``."""
        ...

    def mark_paid(self, reference: str, via: Via) -> bool:
        """Mark paid; True only if this call changed it from unfinished."""
        ...

    def mark_failed(self, reference: str, via: Via) -> bool:
        """Mark failed; True only if this call changed it from unfinished."""
        ...


class StatusSource(Protocol):
    def query(self, reference: str, context: CallContext = NO_CONTEXT) -> PaymentStatus: ...


@dataclass(frozen=True)
class ReconcileReport:
    checked: int = 0
    confirmed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    pending: int = 0
    already_finished: int = 0
    mismatched: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    stopped_early: bool = False


def reconcile(
    ledger: PaymentLedger,
    client: StatusSource,
    now: datetime,
    emit: Callable[[PaymentConfirmed], None],
    *,
    min_age: timedelta = MIN_AGE,
    max_age: timedelta = MAX_AGE,
) -> ReconcileReport:
    """One reconciliation run at ``now`` over transactions ``min_age``..``max_age`` old."""
    report = ReconcileReport()
    for payment in ledger.list_unfinished(now - min_age, now - max_age):
        report = replace(report, checked=report.checked + 1)
        try:
            status = client.query(payment.reference, CallContext(dossier_code=payment.dossier_code))
        except UpstreamError as exc:
            report = replace(report, errors=(*report.errors, f"{payment.reference}: {exc.code}"))
            if isinstance(exc, CircuitOpen):
                return replace(report, stopped_early=True)
            continue
        if status.state == PaymentState.PENDING:
            report = replace(report, pending=report.pending + 1)
        elif status.state == PaymentState.FAILED:
            if ledger.mark_failed(payment.reference, "reconciliation"):
                report = replace(report, failed=(*report.failed, payment.reference))
            else:
                report = replace(report, already_finished=report.already_finished + 1)
        elif status.amount != payment.amount:
            report = replace(report, mismatched=(*report.mismatched, payment.reference))
        elif ledger.mark_paid(payment.reference, "reconciliation"):
            emit(PaymentConfirmed.from_status(payment.dossier_code, status, at=now))
            report = replace(report, confirmed=(*report.confirmed, payment.reference))
        else:
            report = replace(report, already_finished=report.already_finished + 1)
    return report

