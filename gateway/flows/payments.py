"""Payment flows: INIT, status, receipt, the platform's confirm callback, reconciliation.

Rules:
- A payment is announced to the city (``city.payment.confirmed``) exactly once, whichever
  path learns first that it was paid (callback, status query, reconciliation): the
  event's message id derives from ``MaThamChieu`` and its body is deterministic, so a
  second path stores nothing new.
- Callback and status paths: ONE unit of work stores the event, records it on the
  payment and marks the payment paid (:class:`ConfirmPayment` -> :func:`confirm_payment`):
  never a paid row without its event, nor an event without its mark; a failure leaves the
  row pending for the repeated callback (or reconciliation) to complete.
- Reconciliation path (``adapters.payment.reconcile``) marks, then emits; a paid row
  left without an event (a crash between) is announced by :meth:`PaymentFlows.reconcile`'s
  recovery step.
- The callback is always answered in the platform's ``MaLoi`` form, signed.
- INIT at most once per caller and ``Idempotency-Key``: with a key, ``MaThamChieu`` is
  bound to it (:func:`keyed_reference`: the dossier code's alphanumerics + ``K`` + 16 hex
  of SHA-256 over caller and key, as long as the timed reference), so a retry whose
  first answer was lost (the idempotency record not saved, the process gone before the
  answer) finds the payment it created in the ledger and answers it again, with no
  second INIT and no second checkout link. Should the ledger row itself be missing (the
  row's write failed after INIT), the retry's INIT carries the same reference and the
  platform refuses it as a duplicate (``MaLoi`` 04): a 409, never a second link. The
  same key for another dossier is another reference; for the same dossier with another
  amount, a 409. Without a key each call is a new transaction (a timed reference).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from adapters.http import CallContext
from adapters.payment.checksum import Scheme
from adapters.payment.confirm import merchant_answer, verify_confirmation
from adapters.payment.port import PaymentPlatform
from adapters.payment.reconcile import MAX_AGE, MIN_AGE, ReconcileReport, reconcile
from adapters.payment.records import (
    Fee,
    MerchantCode,
    PaymentConfirmed,
    PaymentRequest,
    PaymentState,
)
from adapters.payment.wire import PaymentRefused, wire_time
from gateway.domain.errors import Conflict, InvalidInput, NotFound
from gateway.domain.messages import MessageType
from gateway.flows.acceptor import Signer, derived_message_id, signed
from gateway.logging import get_logger
from gateway.store.db import utcnow
from gateway.store.payments import NewPayment, PaymentRow, SqlPaymentLedger
from gateway.store.repositories import UnitOfWork

log = get_logger(__name__)
TRANGTHAI = {PaymentState.PAID: 1, PaymentState.PENDING: 3, PaymentState.FAILED: 4}


_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")
#: ``MaLoi`` of an INIT whose ``MaThamChieu`` was already used
DUPLICATE_REFERENCE = "04"


def keyed_reference(dossier_code: str, caller: str, idempotency_key: str) -> str:
    """``MaThamChieu`` bound to (caller, Idempotency-Key) for ``dossier_code``."""
    digest = hashlib.sha256(f"{caller}\n{idempotency_key}".encode()).hexdigest()
    reference = _NON_ALNUM.sub("", dossier_code) + "K" + digest[:16].upper()
    if len(reference) > 50:
        raise InvalidInput("MaThamChieu would exceed 50 characters", field="MaHoSo")
    return reference


@dataclass(frozen=True)
class Beneficiary:
    """The agency's treasury account, used when a request names none."""

    account: str = ""
    bank: str = ""
    name: str = ""


def payment_request(
    body: Mapping[str, Any], beneficiary: Beneficiary = Beneficiary()
) -> PaymentRequest:
    """The API's ``PaymentRequest`` (already schema-valid) as the adapter's record."""
    receipt = body["ThongTinBienLai"]
    account = receipt.get("TKThuHuong") or beneficiary.account
    bank = receipt.get("MaNHThuHuong") or beneficiary.bank
    name = receipt.get("TenTKThuHuong") or beneficiary.name
    for field_name, value in (
        ("TKThuHuong", account),
        ("MaNHThuHuong", bank),
        ("TenTKThuHuong", name),
    ):
        if not value:
            raise InvalidInput(
                f"ThongTinBienLai.{field_name}: required (the request names none and no "
                "beneficiary is configured in adapters.payment)",
                field=f"ThongTinBienLai.{field_name}",
            )
    fees = tuple(
        Fee(
            kind="1" if int(line["LoaiPhiLePhi"]) == 1 else "2",
            code=line.get("MaPhiLePhi", ""),
            name=line["TenPhiLePhi"],
            amount=int(line["SoTien"]),
        )
        for line in receipt["PhiLePhi"]
    )
    return PaymentRequest(
        dossier_code=body["MaHoSo"],
        procedure_code=receipt["MaTTHC"],
        procedure_name=receipt["TenTTHC"],
        agency_code=receipt["MaDonVi"],
        agency_name=receipt["TenDonVi"],
        amount=int(body["SoTien"]),
        fees=fees,
        description=body["ThongTinGiaoDich"],
        payment_content=receipt["NoiDungThanhToan"],
        beneficiary_account=account,
        beneficiary_bank=bank,
        beneficiary_name=name,
        client_ip=body["Ip"],
        payer_name=receipt["HoTenNguoiNop"],
        payer_id_number=receipt.get("SoCMNDNguoiNop", ""),
        payer_address=receipt.get("DiaChiNguoiNop", ""),
        service_name=receipt.get("TenDVC", ""),
        service_kind=receipt.get("MaDichVu", "1"),
        bank_code=body.get("MaNganHang", ""),
        channel=body.get("MaKenhThanhToan", "1"),
        device=body.get("MaThietBi", "1"),
    )


@dataclass(frozen=True)
class ConfirmPayment:
    """The payment platform's confirm (IPN): the exact body it posted."""

    body: bytes
    correlation_id: str


def confirm_payment(
    command: ConfirmPayment, uow: UnitOfWork, flows: PaymentFlows
) -> dict[str, Any]:
    """Verify one confirm and answer it (``MaLoi``, signed); a paid one is announced once."""
    check = verify_confirmation(
        command.body,
        partner_code=flows.partner_code,
        secret=flows.secret,
        scheme=flows.scheme,
        find=flows.ledger.find,
    )
    confirmation = check.confirmation
    if check.code == MerchantCode.ACCEPTED and confirmation is not None and check.transaction:
        with uow:
            if confirmation.paid:
                event = PaymentConfirmed(
                    dossier_code=check.transaction.dossier_code,
                    reference=confirmation.reference,
                    amount=confirmation.amount,
                    transaction_id=confirmation.transaction_id,
                    transaction_time=confirmation.transaction_time,
                    source="callback",
                    bank_code=confirmation.bank_code,
                    description=confirmation.description,
                    currency=confirmation.currency,
                )
                announce(uow, flows.signer, event, command.correlation_id, mark_paid="callback")
            else:
                uow.payments.finish(confirmation.reference, "failed", "callback")
            uow.commit().result()
    log.info("payment confirm answered", code=check.code.value, reason=check.reason)
    return merchant_answer(
        check,
        partner_code=flows.partner_code,
        secret=flows.secret,
        scheme=flows.scheme,
        now=flows.clock(),
    )


def announce(
    uow: UnitOfWork,
    signer: Signer,
    event: PaymentConfirmed,
    correlation_id: str,
    *,
    mark_paid: str | None,
) -> str:
    """Stage the ``city.payment.confirmed`` event (once per reference), recorded on the
    payment, and the payment marked paid ``via`` ``mark_paid`` (None: left as it is)."""
    envelope = signed(
        signer,
        MessageType.CITY_PAYMENT_CONFIRMED,
        event.message_body(),
        correlation_id=correlation_id,
        dossier_code=event.dossier_code,
        message_id=derived_message_id("payment-confirmed", event.reference),
        source="payment",
    )
    uow.messages.add(
        envelope, dossier_code=event.dossier_code, partner=envelope.recipient, keep_existing=True
    )
    uow.payments.set_announced(event.reference, envelope.message_id, event.transaction_id)
    if mark_paid is not None:
        uow.payments.finish(event.reference, "paid", mark_paid)
    return envelope.message_id


class PaymentFlows:
    """INIT, status, receipt and reconciliation, and what :func:`confirm_payment` needs."""

    def __init__(
        self,
        client: PaymentPlatform,
        ledger: SqlPaymentLedger,
        units_of_work: Callable[[], UnitOfWork],
        signer: Signer,
        *,
        partner_code: str,
        secret: str,
        scheme: Scheme,
        clock: Callable[[], datetime] = utcnow,
        reconcile_window: tuple[timedelta, timedelta] = (MIN_AGE, MAX_AGE),
        beneficiary: Beneficiary = Beneficiary(),
    ) -> None:
        self._beneficiary = beneficiary
        self._reconcile_window = reconcile_window
        self._client = client
        self.ledger = ledger
        self.units_of_work = units_of_work
        self.signer = signer
        self.partner_code = partner_code
        self.secret = secret
        self.scheme: Scheme = scheme
        self.clock = clock

    def create(
        self,
        body: Mapping[str, Any],
        *,
        caller: str,
        correlation_id: str,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """INIT, recorded in the ledger; with a key, at most once (see the module rules)."""
        request = payment_request(body, self._beneficiary)
        context = CallContext(correlation_id=correlation_id, dossier_code=request.dossier_code)
        if idempotency_key is None:
            result = self._client.init(request, context)
        else:
            reference = keyed_reference(request.dossier_code, caller, idempotency_key)
            existing = self.ledger.get(reference)
            if existing is not None:
                return self._created_before(existing, request.amount)
            try:
                result = self._client.init(request, context, reference=reference)
            except PaymentRefused as refused:
                if refused.platform_code != DUPLICATE_REFERENCE:
                    raise
                raise Conflict(
                    f"payment {reference}: the platform already holds a transaction for this "
                    "Idempotency-Key but its answer was not recorded here; no second one "
                    "was created (an operator can reconcile it)"
                ) from None
        with self.units_of_work() as uow:
            uow.payments.add(
                NewPayment(
                    reference=result.reference,
                    dossier_code=request.dossier_code,
                    procedure_code=request.procedure_code,
                    amount=request.amount,
                    payment_url=result.checkout_url,
                    caller=caller,
                )
            )
            uow.commit().result()
        log.info("payment created", reference=result.reference, keyed=idempotency_key is not None)
        return {
            "MaThamChieu": result.reference,
            "UrlThanhToan": result.checkout_url,
            "MaHoSo": request.dossier_code,
            "SoTien": request.amount,
            "ThoiGianGD": result.sent_at,
        }

    @staticmethod
    def _created_before(row: PaymentRow, amount: int) -> dict[str, Any]:
        """The answer of a payment this caller's key already created (no second INIT);
        ``ThoiGianGD`` is when it was recorded (the INIT's own time, within a second)."""
        if row.amount != amount:
            raise Conflict(
                f"payment {row.reference}: this Idempotency-Key already created a payment "
                f"of {row.amount} VND for dossier {row.dossier_code}"
            )
        log.info("payment answered again", reference=row.reference)
        return {
            "MaThamChieu": row.reference,
            "UrlThanhToan": row.payment_url,
            "MaHoSo": row.dossier_code,
            "SoTien": row.amount,
            "ThoiGianGD": wire_time(row.created_at),
        }

    def _known(self, reference: str) -> Any:
        row = self.ledger.get(reference)
        if row is None:
            raise NotFound(f"payment {reference}: no such MaThamChieu was created here")
        return row

    def status(self, reference: str, *, correlation_id: str) -> dict[str, Any]:
        row = self._known(reference)
        context = CallContext(correlation_id=correlation_id, dossier_code=row.dossier_code)
        status = self._client.query(reference, context)
        if (
            status.state == PaymentState.PAID
            and status.amount == row.amount
            and row.state == "pending"
        ):
            self._announce(
                PaymentConfirmed.from_status(row.dossier_code, status),
                correlation_id=correlation_id,
                mark_paid="query",
            )
        elif status.state == PaymentState.FAILED:
            with self.units_of_work() as uow:
                uow.payments.finish(reference, "failed", "query")
                uow.commit().result()
        answer: dict[str, Any] = {
            "MaThamChieu": reference,
            "TrangThaiGD": TRANGTHAI[status.state],
            "status": status.state.value,
            "SoTien": status.amount,
        }
        if status.transaction_id:
            answer["MaGiaoDich"] = status.transaction_id
        if status.transaction_time:
            answer["ThoiGianGD"] = status.transaction_time
        return answer

    def receipt(self, reference: str, *, correlation_id: str) -> bytes:
        row = self._known(reference)
        context = CallContext(correlation_id=correlation_id, dossier_code=row.dossier_code)
        return self._client.get_bill(reference, context)

    def _announce(
        self, event: PaymentConfirmed, *, correlation_id: str, mark_paid: str | None = None
    ) -> None:
        with self.units_of_work() as uow:
            announce(uow, self.signer, event, correlation_id, mark_paid=mark_paid)
            uow.commit().result()

    def reconcile(self, *, correlation_id: str = "reconciliation") -> ReconcileReport:
        """One reconciliation run, then announce any paid row left without its event."""
        now = self.clock()
        report = reconcile(
            self.ledger,
            self._client,
            now,
            lambda event: self._announce(event, correlation_id=correlation_id),
            min_age=self._reconcile_window[0],
            max_age=self._reconcile_window[1],
        )
        for row in self.ledger.unannounced(before=now - timedelta(minutes=1)):
            status = self._client.query(
                row.reference, CallContext(correlation_id, dossier_code=row.dossier_code)
            )
            if status.state == PaymentState.PAID:
                self._announce(
                    PaymentConfirmed.from_status(row.dossier_code, status),
                    correlation_id=correlation_id,
                )
        emit_log = log.info if report.checked or report.errors else log.debug
        emit_log(
            "reconciliation run",
            checked=report.checked,
            confirmed=len(report.confirmed),
            failed=len(report.failed),
            mismatched=len(report.mismatched),
            errors=len(report.errors),
        )
        return report
