"""Confirm callbacks (IPN) from the payment platform: verify them, build the merchant answer.

Pure functions the API's callback handler calls (``find`` is its lookup of the
transaction by reference; nothing here touches a database or the network).

Rules, in the order they are checked (``contracts/payment/openapi.yaml``,
``MerchantAnswer.MaLoi``):
1. not JSON, not an object, or breaking ``ConfirmRequest``      -> ``99`` other error
2. ``MaXacThuc`` wrong (constant-time comparison)                -> ``97`` bad checksum
3. ``MaDoiTac`` is not ours                                      -> ``99`` other error
4. ``MaThamChieu`` unknown                                       -> ``01`` not found
5. ``SoTien`` differs from the transaction's amount              -> ``04`` wrong amount
6. the transaction is already confirmed (a repeated callback)    -> ``02`` already confirmed
7. otherwise                                                     -> ``00`` accepted
A failed payment (``MaLoi`` not 00) that passes these is accepted too: the handler
records the failure; only a paid one becomes a ``city.payment.confirmed`` event.
The merchant's answer carries its own ``MaXacThuc`` over ``MaLoi|MaDoiTac|MaThamChieu|ThoiGianGD``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from adapters._contracts import validator, violations
from adapters.payment import checksum
from adapters.payment.records import (
    Confirmation,
    ConfirmationCheck,
    KnownTransaction,
    MerchantCode,
)
from adapters.payment.wire import CONTRACT, wire_time

DESCRIPTIONS = {
    MerchantCode.ACCEPTED: "Đã ghi nhận",
    MerchantCode.NOT_FOUND: "Không tìm thấy giao dịch",
    MerchantCode.ALREADY_CONFIRMED: "Giao dịch đã được xác nhận",
    MerchantCode.WRONG_AMOUNT: "Sai số tiền",
    MerchantCode.BAD_CHECKSUM: "Sai mã xác thực",
    MerchantCode.OTHER: "Lỗi khác",
}
_REFERENCE = re.compile(r"[A-Za-z0-9]{1,50}")
_TIME = re.compile(
    r"(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]"
)


def verify_confirmation(
    body: bytes,
    *,
    partner_code: str,
    secret: str,
    scheme: checksum.Scheme,
    find: Callable[[str], KnownTransaction | None],
) -> ConfirmationCheck:
    """The verdict on one confirm callback body (see the module rules)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ConfirmationCheck(MerchantCode.OTHER, "confirm body is not JSON")
    if not isinstance(data, dict):
        return ConfirmationCheck(MerchantCode.OTHER, "confirm body is not a JSON object")
    reference = data.get("MaThamChieu")
    reference = reference if isinstance(reference, str) and _REFERENCE.fullmatch(reference) else ""
    time_text = data.get("ThoiGianGD")
    time_text = time_text if isinstance(time_text, str) and _TIME.fullmatch(time_text) else ""
    errors = violations(validator(CONTRACT, "/components/schemas/ConfirmRequest"), data)
    if errors:
        return ConfirmationCheck(
            MerchantCode.OTHER,
            f"confirm breaks the contract: {'; '.join(errors)}",
            None,
            None,
            reference,
            time_text,
        )
    if not checksum.verify("CONFIRM", data, secret, scheme):
        return ConfirmationCheck(
            MerchantCode.BAD_CHECKSUM, "MaXacThuc does not match", None, None, reference, time_text
        )
    confirmation = Confirmation(
        result_code=data["MaLoi"],
        partner_code=data["MaDoiTac"],
        reference=data["MaThamChieu"],
        amount=data["SoTien"],
        currency=data["MaTienTe"],
        transaction_id=data["MaGiaoDich"],
        bank_code=data["MaNganHang"],
        transaction_time=data["ThoiGianGD"],
        description=data["ThongTinGiaoDich"],
    )

    def verdict(
        code: MerchantCode, reason: str, known: KnownTransaction | None = None
    ) -> ConfirmationCheck:
        return ConfirmationCheck(code, reason, confirmation, known, reference, time_text)

    if confirmation.partner_code != partner_code:
        return verdict(MerchantCode.OTHER, "MaDoiTac is not this merchant's partner code")
    known = find(confirmation.reference)
    if known is None:
        return verdict(MerchantCode.NOT_FOUND, "no transaction with this MaThamChieu")
    if known.amount != confirmation.amount:
        return verdict(
            MerchantCode.WRONG_AMOUNT, "SoTien differs from the transaction's amount", known
        )
    if known.confirmed:
        return verdict(MerchantCode.ALREADY_CONFIRMED, "transaction already confirmed", known)
    return verdict(MerchantCode.ACCEPTED, "accepted", known)


def merchant_answer(
    check: ConfirmationCheck,
    *,
    partner_code: str,
    secret: str,
    scheme: checksum.Scheme,
    now: datetime,
) -> dict[str, Any]:
    """The signed ``MerchantAnswer`` for a verdict (valid against the contract)."""
    fields: dict[str, Any] = {
        "MaLoi": check.code.value,
        "MoTaLoi": DESCRIPTIONS[check.code],
        "MaDoiTac": partner_code,
        "MaThamChieu": check.reference or "0",
        "ThoiGianGD": check.transaction_time or wire_time(now),
    }
    return checksum.sign("MERCHANT_ANSWER", fields, secret, scheme)
