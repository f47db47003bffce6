"""The gateway's payment records, in English snake_case (wire names live in ``wire.py``).

Rules:
- Amounts are integer VND, positive; a fee list's amounts add up to the total.
- The payer's name, number and address are personal data: ``repr`` hides them.
- Frozen dataclasses; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal


@dataclass(frozen=True)
class Fee:
    """One ``PhiLePhi`` line: ``kind`` 1 = phí (fee), 2 = lệ phí (charge)."""

    kind: Literal["1", "2"]
    code: str
    name: str
    amount: int


@dataclass(frozen=True)
class PaymentRequest:
    """What the city asks for: a payment of a dossier's fees (becomes an INIT)."""

    dossier_code: str
    procedure_code: str  # MaTTHC (local or national); MaDVC = MaTTHC + ".01"
    procedure_name: str
    agency_code: str
    agency_name: str
    amount: int
    fees: tuple[Fee, ...]
    description: str  # ThongTinGiaoDich
    payment_content: str  # NoiDungThanhToan
    beneficiary_account: str
    beneficiary_bank: str
    beneficiary_name: str
    client_ip: str
    payer_name: str = field(repr=False)
    payer_id_number: str = field(default="", repr=False)
    payer_address: str = field(default="", repr=False)
    service_name: str = ""  # TenDVC; defaults to the procedure name
    service_kind: str = "1"  # MaDichVu
    bank_code: str = ""  # MaNganHang; empty = chosen at checkout
    channel: str = "1"  # MaKenhThanhToan: 1 web, 2 app, 3 kiosk
    device: str = "1"  # MaThietBi: 1 desktop, 2 mobile
    language: Literal["vi-VN", "en-US"] = "vi-VN"


@dataclass(frozen=True)
class InitResult:
    """A created transaction: its merchant reference and the checkout URL."""

    reference: str
    checkout_url: str
    sent_at: str  # the INIT's ThoiGianGD


class PaymentState(StrEnum):
    PAID = "paid"  # TrangThaiGD 1
    PENDING = "pending"  # 3
    FAILED = "failed"  # 4


@dataclass(frozen=True)
class PaymentStatus:
    """A QUERY answer."""

    reference: str
    state: PaymentState
    amount: int
    currency: str
    transaction_id: str
    bank_code: str
    transaction_time: str  # yyyyMMddHHmmss


@dataclass(frozen=True)
class Confirmation:
    """A confirm callback (IPN) whose shape and checksum are right."""

    result_code: str  # MaLoi: 00 = paid
    partner_code: str
    reference: str
    amount: int
    currency: str
    transaction_id: str
    bank_code: str
    transaction_time: str
    description: str

    @property
    def paid(self) -> bool:
        return self.result_code == "00"


class MerchantCode(StrEnum):
    """The merchant's answer to a confirm (contract ``MerchantAnswer.MaLoi``)."""

    ACCEPTED = "00"
    NOT_FOUND = "01"
    ALREADY_CONFIRMED = "02"
    WRONG_AMOUNT = "04"
    BAD_CHECKSUM = "97"
    OTHER = "99"


@dataclass(frozen=True)
class KnownTransaction:
    """What the gateway holds about a reference when a confirm arrives."""

    reference: str
    dossier_code: str
    amount: int
    confirmed: bool


@dataclass(frozen=True)
class ConfirmationCheck:
    """The verdict on a confirm callback: ``code`` 00 means act on ``confirmation``."""

    code: MerchantCode
    reason: str
    confirmation: Confirmation | None = None
    transaction: KnownTransaction | None = None
    reference: str = ""
    transaction_time: str = ""

    @property
    def accepted(self) -> bool:
        return self.code == MerchantCode.ACCEPTED


@dataclass(frozen=True)
class PaymentConfirmed:
    """The event delivered once to the city (``city.payment.confirmed``)."""

    dossier_code: str
    reference: str
    amount: int
    transaction_id: str
    transaction_time: str
    source: Literal["callback", "reconciliation"]
    bank_code: str = ""
    description: str = ""
    currency: str = "VND"
    at: datetime | None = None

    @classmethod
    def from_status(
        cls,
        dossier_code: str,
        status: PaymentStatus,
        source: Literal["callback", "reconciliation"] = "reconciliation",
        at: datetime | None = None,
    ) -> PaymentConfirmed:
        """The event for a payment a QUERY found paid."""
        return cls(
            dossier_code=dossier_code,
            reference=status.reference,
            amount=status.amount,
            transaction_id=status.transaction_id,
            transaction_time=status.transaction_time,
            source=source,
            bank_code=status.bank_code,
            currency=status.currency,
            at=at,
        )

    def message_body(self) -> dict[str, Any]:
        """The event per ``contracts/city/openapi.yaml`` (``PaymentConfirmedEvent``).

        Deterministic for one reference and payment (no "received at" time), so the same
        confirmation always serializes to the same signed bytes.
        """
        payment: dict[str, Any] = {
            "MaHoSo": self.dossier_code,
            "MaThamChieu": self.reference,
            "SoTien": self.amount,
            "MaTienTe": self.currency,
            "MaGiaoDich": self.transaction_id,
            "ThoiGianGD": self.transaction_time,
        }
        if self.bank_code:
            payment["MaNganHang"] = self.bank_code
        if self.description:
            payment["ThongTinGiaoDich"] = self.description
        return {"event": "city.payment.confirmed", "payment": payment}
