"""Pure translation between payment records and the platform's JSON messages (1.0.6).

Rules (reference section 3, ``contracts/payment/openapi.yaml``):
- Times are ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh (UTC+7, no daylight saving); an aware
  ``datetime`` is required.
- ``MaThamChieu`` = the dossier code with non-alphanumerics stripped + the time to the
  millisecond (``yyyyMMddHHmmssfff``): unique per attempt as long as attempts for one
  dossier are a millisecond apart (:class:`ReferenceClock` guarantees it in a process).
- ``MaDVC`` = ``MaTTHC`` + ``.01``. Amounts are integers in VND, positive, equal to the
  sum of the fee lines. A request breaking the contract raises ``InvalidInput`` naming the
  wire field, before anything is sent; every built message validates against the contract.
- Answers are validated against the contract: a violation is ``UpstreamMalformed``;
  ``MaLoi`` 99 (system error) is ``UpstreamUnavailable``; other non-00 codes are
  :class:`PaymentRefused` (an ``UpstreamRejected`` carrying ``platform_code``).
- No I/O (the contract file is read once and cached).
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta
from typing import Any

from adapters._contracts import validator, violations
from adapters._text import mask_text
from adapters.payment import checksum
from adapters.payment.records import (
    InitResult,
    PaymentRequest,
    PaymentState,
    PaymentStatus,
)
from gateway.domain.errors import (
    IdentifierError,
    InvalidInput,
    UpstreamMalformed,
    UpstreamRejected,
    UpstreamUnavailable,
)
from gateway.domain.identifiers import AgencyCode, DossierCode, ProcedureCode
from gateway.domain.time_zone import VIETNAM

PARTNER = "payment"
VERSION = "1.0.6"
CONTRACT = "payment/openapi.yaml"
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")
PLATFORM_CODES = {
    "01": "MaXacThuc wrong",
    "02": "message violates the contract",
    "03": "MaDoiTac unknown",
    "04": "MaThamChieu already used",
    "05": "transaction not found",
    "06": "invalid amount",
    "07": "receipt not available (not paid)",
    "08": "PhienBan not supported",
    "99": "system error",
}


class PaymentRefused(UpstreamRejected):
    """The platform refused a message (``MaLoi`` not 00); ``platform_code`` says why."""

    def __init__(self, operation: str, platform_code: str, text: str = "") -> None:
        meaning = PLATFORM_CODES.get(platform_code, "unknown code")
        suffix = f": {mask_text(text, 120)}" if text else ""
        super().__init__(
            PARTNER, f"{operation}: refused with MaLoi {platform_code} ({meaning}){suffix}"
        )
        self.platform_code = platform_code


def wire_time(at: datetime) -> str:
    """``yyyyMMddHHmmss`` in Vietnam time."""
    if at.tzinfo is None:
        raise InvalidInput("payment time must be timezone-aware", field="ThoiGianGD")
    return at.astimezone(VIETNAM).strftime("%Y%m%d%H%M%S")


def derive_reference(dossier_code: str, at: datetime) -> str:
    """``MaThamChieu``: dossier code, non-alphanumerics stripped, + time to the millisecond."""
    DossierCode.parse(dossier_code)
    if at.tzinfo is None:
        raise InvalidInput("payment time must be timezone-aware", field="MaThamChieu")
    local = at.astimezone(VIETNAM)
    reference = (
        _NON_ALNUM.sub("", dossier_code)
        + local.strftime("%Y%m%d%H%M%S")
        + f"{local.microsecond // 1000:03d}"
    )
    if len(reference) > 50:
        raise InvalidInput("MaThamChieu would exceed 50 characters", field="MaThamChieu")
    return reference


class ReferenceClock:
    """Hands out strictly increasing millisecond times, so references never repeat here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: datetime | None = None

    def next(self, now: datetime) -> datetime:
        with self._lock:
            at = now.replace(microsecond=(now.microsecond // 1000) * 1000)
            if self._last is not None and at <= self._last:
                at = self._last + timedelta(milliseconds=1)
            self._last = at
            return at


def _amount(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer number of VND", field=name)
    if value <= 0:
        raise InvalidInput(f"{name} must be positive (got {value})", field=name)
    return value


def _check(schema_pointer: str, message: dict[str, Any], what: str) -> None:
    errors = violations(validator(CONTRACT, schema_pointer), message)
    if errors:
        raise InvalidInput(
            f"{what} breaks the payment contract: {'; '.join(errors)}",
            field=errors[0].split(":")[0],
        )


def init_message(
    request: PaymentRequest,
    *,
    partner_code: str,
    secret: str,
    scheme: checksum.Scheme,
    reference: str,
    sent_at: datetime,
) -> dict[str, Any]:
    """The signed INIT message for ``request`` (checked against the contract)."""
    total = _amount(request.amount, "SoTien")
    for index, fee in enumerate(request.fees):
        _amount(fee.amount, f"ThongTinBienLai.PhiLePhi[{index}].SoTien")
    if not request.fees:
        raise InvalidInput("at least one fee line is required", field="ThongTinBienLai.PhiLePhi")
    if sum(fee.amount for fee in request.fees) != total:
        raise InvalidInput("SoTien must equal the sum of the fee lines", field="SoTien")
    try:
        DossierCode.parse(request.dossier_code)
        procedure = ProcedureCode.parse(request.procedure_code)
        AgencyCode.parse(request.agency_code)
    except IdentifierError as exc:
        raise InvalidInput(exc.detail, field=exc.field) from None
    receipt: dict[str, Any] = {
        "MaDichVu": request.service_kind,
        "MaDVC": f"{procedure.value}.01",
        "TenDVC": request.service_name or request.procedure_name,
        "MaTTHC": procedure.value,
        "TenTTHC": request.procedure_name,
        "MaDonVi": request.agency_code,
        "TenDonVi": request.agency_name,
        "MaHoSo": request.dossier_code,
        "TKThuHuong": request.beneficiary_account,
        "MaNHThuHuong": request.beneficiary_bank,
        "TenTKThuHuong": request.beneficiary_name,
        "NoiDungThanhToan": request.payment_content,
        "HoTenNguoiNop": request.payer_name,
        "PhiLePhi": [
            {
                "LoaiPhiLePhi": f.kind,
                "MaPhiLePhi": f.code,
                "TenPhiLePhi": f.name,
                "SoTien": f.amount,
            }
            for f in request.fees
        ],
    }
    if request.payer_id_number:
        receipt["SoCMNDNguoiNop"] = request.payer_id_number
    if request.payer_address:
        receipt["DiaChiNguoiNop"] = request.payer_address
    fields: dict[str, Any] = {
        "LoaiBanTin": "INIT",
        "PhienBan": VERSION,
        "MaDoiTac": partner_code,
        "MaThamChieu": reference,
        "SoTien": total,
        "LoaiHinhThanhToan": "PAY",
        "MaKenhThanhToan": request.channel,
        "MaThietBi": request.device,
        "NgonNgu": request.language,
        "MaTienTe": "VND",
        "MaNganHang": request.bank_code,
        "ThongTinGiaoDich": request.description,
        "ThoiGianGD": wire_time(sent_at),
        "Ip": request.client_ip,
    }
    message = checksum.sign("INIT", fields, secret, scheme)
    message["ThongTinBienLai"] = receipt
    _check("/components/schemas/InitRequest", message, "INIT")
    return message


def query_message(
    kind: str,
    reference: str,
    *,
    partner_code: str,
    secret: str,
    scheme: checksum.Scheme,
    sent_at: datetime,
) -> dict[str, Any]:
    """The signed QUERY or GET_BILL message for ``reference``."""
    if kind not in ("QUERY", "GET_BILL"):
        raise InvalidInput(f"unknown payment message kind {kind!r}", field="LoaiBanTin")
    fields = {
        "LoaiBanTin": kind,
        "PhienBan": VERSION,
        "MaDoiTac": partner_code,
        "MaThamChieu": reference,
        "ThoiGianGD": wire_time(sent_at),
    }
    message = checksum.sign(kind, fields, secret, scheme)
    _check("/components/schemas/QueryRequest", message, kind)
    return message


def _answer(body: bytes, operation: str, pointer: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise UpstreamMalformed(PARTNER, f"{operation}: answer is not JSON") from None
    if not isinstance(data, dict):
        raise UpstreamMalformed(PARTNER, f"{operation}: answer is not a JSON object")
    code = data.get("MaLoi")
    if code == "99":
        raise UpstreamUnavailable(PARTNER, f"{operation}: platform system error (MaLoi 99)")
    if isinstance(code, str) and code != "00" and code in PLATFORM_CODES:
        raise PaymentRefused(operation, code, str(data.get("MoTaLoi", "")))
    errors = violations(validator(CONTRACT, pointer), data)
    if errors:
        raise UpstreamMalformed(
            PARTNER, f"{operation}: answer breaks the contract: {'; '.join(errors)}"
        )
    return data


def parse_init_answer(body: bytes, reference: str, sent_at: str) -> InitResult:
    data = _answer(body, "INIT", "/components/schemas/InitAnswer")
    if data["MaThamChieu"] != reference:
        raise UpstreamMalformed(PARTNER, "INIT: answer is for another MaThamChieu")
    return InitResult(reference=reference, checkout_url=data["UrlThanhToan"], sent_at=sent_at)


_STATES = {"1": PaymentState.PAID, "3": PaymentState.PENDING, "4": PaymentState.FAILED}


def parse_query_answer(body: bytes, reference: str) -> PaymentStatus:
    data = _answer(body, "QUERY", "/components/schemas/QueryAnswer")
    if data["MaThamChieu"] != reference:
        raise UpstreamMalformed(PARTNER, "QUERY: answer is for another MaThamChieu")
    return PaymentStatus(
        reference=reference,
        state=_STATES[data["TrangThaiGD"]],
        amount=data["SoTien"],
        currency=data["MaTienTe"],
        transaction_id=data["MaGiaoDich"],
        bank_code=data["MaNganHang"],
        transaction_time=data["ThoiGianGD"],
    )


def parse_bill_answer(status: int, content_type: str, body: bytes) -> bytes:
    """The receipt PDF, or the refusal the platform answered instead."""
    if content_type == "application/pdf":
        if not body.startswith(b"%PDF-"):
            raise UpstreamMalformed(PARTNER, "GET_BILL: application/pdf answer is not a PDF")
        return body
    _answer(body, "GET_BILL", "/components/schemas/PlatformError")
    raise UpstreamMalformed(PARTNER, f"GET_BILL: neither a PDF nor a refusal (HTTP {status})")
