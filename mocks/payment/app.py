"""The payment platform mock (``/payment``): INIT, QUERY, GET_BILL, checkout, confirm IPN.

Routes (relative to ``/payment``; contract ``contracts/payment/openapi.yaml``):

- ``POST /api/v1/init``: INIT → ``{MaLoi "00", UrlThanhToan}`` pointing to the checkout.
- ``POST /api/v1/query``: QUERY → ``TrangThaiGD`` 1 paid, 3 pending, 4 failed.
- ``POST /api/v1/bill``: GET_BILL → the receipt PDF (``application/pdf``) once paid.
- ``GET /checkout/{MaThamChieu}``: HTML page with pay / cancel buttons;
  ``POST /checkout/{MaThamChieu}`` (form ``action=pay|cancel``) settles the transaction
  and sends the signed confirm callback to ``{gateway_url}/v1/callbacks/payments``.
- Control (besides the common ``/_mock/*``): ``POST /_mock/pay/{MaThamChieu}`` (JSON
  ``{"outcome": "paid"|"failed", "callback": true|false}``, default paid with a callback;
  ``"callback": false`` settles without sending the confirm: a lost IPN, for reconciliation) and ``POST /_mock/callbacks/{MaThamChieu}``
  (send the confirm callback again, as a platform retry would). With
  ``MockSettings.auto_pay_seconds`` set, every INIT is paid automatically after that delay.
  A confirm that gets no ``00``/``02`` answer (or no answer) is retried after each delay of
  ``MockSettings.callback_retry_seconds``; every attempt is recorded.

Checks, in order: JSON (else HTTP 400, ``02``), contract (``02``, naming the field),
``PhienBan`` 1.0.6 (``08``), ``MaDoiTac`` (``03``), ``MaXacThuc`` in the configured scheme
(``01``, constant-time), then per message: duplicate reference (``04``), amount = sum of
the receipt's fees (``06``), unknown reference (``05``), receipt of an unpaid transaction
(``07``). Each callback's merchant answer is checked against the contract and its own
``MaXacThuc`` and recorded in the transaction's ``callbacks`` (see ``GET /_mock/state``).
"""

from __future__ import annotations

import threading
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx

from mocks.framework import (
    FaultSpec,
    MockRequest,
    MockResponse,
    PartnerMock,
    json_validator,
    schema_errors,
)
from mocks.payment import checksum
from mocks.payment.receipt import render_receipt
from mocks.settings import MockSettings

CONTRACT = "payment/openapi.yaml"
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
MESSAGES = {
    "00": "Thành công",
    "01": "Sai mã xác thực (MaXacThuc)",
    "02": "Dữ liệu không hợp lệ",
    "03": "Mã đối tác không tồn tại",
    "04": "Mã tham chiếu đã tồn tại",
    "05": "Không tìm thấy giao dịch",
    "06": "Số tiền không hợp lệ",
    "07": "Giao dịch chưa thanh toán, chưa có biên lai",
    "08": "Phiên bản không được hỗ trợ",
    "99": "Lỗi hệ thống",
}


def now_text() -> str:
    """The current time as yyyyMMddHHmmss in Asia/Ho_Chi_Minh."""
    return datetime.now(VIETNAM).strftime("%Y%m%d%H%M%S")


def _error(code: str, detail: str = "", status: int = 200, **extra: str) -> MockResponse:
    message = MESSAGES[code] + (f": {detail}" if detail else "")
    return MockResponse.json({"MaLoi": code, "MoTaLoi": message, **extra}, status=status)


class PaymentMock(PartnerMock):
    """Stateful mock of the payment platform; see the module docstring."""

    name = "payment"

    def __init__(self, settings: MockSettings, http: httpx.Client | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.http = http or httpx.Client(timeout=10.0)
        self.transactions: dict[str, dict[str, Any]] = {}
        self._timers: list[threading.Timer] = []
        self._payment_sequence = 0
        self.route("POST", "/api/v1/init", self.init)
        self.route("POST", "/api/v1/query", self.query)
        self.route("POST", "/api/v1/bill", self.bill)
        self.route("GET", "/checkout/{reference}", self.checkout_page)
        self.route("POST", "/checkout/{reference}", self.checkout_submit)

    # -- control --------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"transactions": self.transactions}

    def reset(self) -> None:
        super().reset()
        with self.lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            self.transactions.clear()
            self._payment_sequence = 0

    def fault_response(self, request: MockRequest, spec: FaultSpec) -> MockResponse:
        if spec.soap_fault:
            return super().fault_response(request, spec)
        if spec.expired_session:  # the platform has no sessions: its nearest form
            return _error("99", "phiên làm việc hết hạn (injected)")
        return _error("99", "injected fault", status=spec.status or 500)

    def _control_extra(self, request: MockRequest) -> MockResponse:
        parts = request.path.strip("/").split("/")
        if request.method == "POST" and len(parts) == 3 and parts[1] == "pay":
            try:
                control = request.json() if request.body else {}
                outcome = control.get("outcome", "paid")
                callback = control.get("callback", True)
            except (ValueError, AttributeError):
                return MockResponse.json({"error": "body must be a JSON object"}, status=400)
            if outcome not in ("paid", "failed"):
                return MockResponse.json(
                    {"error": f"outcome must be 'paid' or 'failed', got {outcome!r}"}, status=400
                )
            if not isinstance(callback, bool):
                return MockResponse.json({"error": "callback must be true or false"}, status=400)
            return self._settle_json(parts[2], paid=outcome == "paid", callback=callback)
        if request.method == "POST" and len(parts) == 3 and parts[1] == "callbacks":
            with self.lock:
                known = (
                    parts[2] in self.transactions and "MaGiaoDich" in self.transactions[parts[2]]
                )
            if not known:
                return MockResponse.json({"error": f"no settled transaction {parts[2]}"}, 404)
            return MockResponse.json(self.send_callback(parts[2]))
        return super()._control_extra(request)

    # -- common checks --------------------------------------------------------------------
    def _checked(self, request: MockRequest, schema: str, fields: tuple[str, ...]) -> Any:
        """The message, or a refusal ``MockResponse``."""
        try:
            message = request.json()
        except ValueError as exc:
            return _error("02", f"body is not JSON: {exc}", status=400)
        errors = schema_errors(json_validator(CONTRACT, f"/components/schemas/{schema}"), message)
        if errors:
            return _error("02", "; ".join(errors[:10]))
        if message["PhienBan"] != "1.0.6":
            return _error("08", f"PhienBan {message['PhienBan']}")
        if message["MaDoiTac"] != self.settings.payment_partner_code:
            return _error("03", f"MaDoiTac {message['MaDoiTac']}")
        secret, scheme = self.settings.payment_secret, self.settings.payment_scheme
        if not checksum.verify(message, fields, secret, scheme):
            return _error("01")
        return message

    # -- INIT / QUERY / GET_BILL ----------------------------------------------------------
    def init(self, request: MockRequest) -> MockResponse:
        message = self._checked(request, "InitRequest", checksum.INIT_FIELDS)
        if isinstance(message, MockResponse):
            return message
        reference = message["MaThamChieu"]
        fees = sum(fee["SoTien"] for fee in message["ThongTinBienLai"]["PhiLePhi"])
        if fees != message["SoTien"]:
            return _error("06", f"SoTien {message['SoTien']} khác tổng PhiLePhi {fees}")
        with self.lock:
            if reference in self.transactions:
                return _error("04", f"MaThamChieu {reference}")
            self.transactions[reference] = {**message, "TrangThaiGD": "3", "callbacks": []}
        if self.settings.auto_pay_seconds is not None:
            timer = threading.Timer(self.settings.auto_pay_seconds, self._auto_pay, [reference])
            timer.daemon = True
            with self.lock:
                self._timers.append(timer)
            timer.start()
        url = f"{self.settings.public_url.rstrip('/')}/payment/checkout/{reference}"
        return MockResponse.json(
            {
                "MaLoi": "00",
                "MoTaLoi": MESSAGES["00"],
                "MaDoiTac": message["MaDoiTac"],
                "MaThamChieu": reference,
                "UrlThanhToan": url,
            }
        )

    def _lookup(self, request: MockRequest, kind: str) -> dict[str, Any] | MockResponse:
        message = self._checked(request, "QueryRequest", checksum.QUERY_FIELDS)
        if isinstance(message, MockResponse):
            return message
        if message["LoaiBanTin"] != kind:
            return _error("02", f"$.LoaiBanTin: expected {kind} on this endpoint")
        with self.lock:
            transaction = self.transactions.get(message["MaThamChieu"])
        if transaction is None:
            return _error("05", f"MaThamChieu {message['MaThamChieu']}")
        return transaction

    def query(self, request: MockRequest) -> MockResponse:
        transaction = self._lookup(request, "QUERY")
        if isinstance(transaction, MockResponse):
            return transaction
        return MockResponse.json(
            {
                "MaLoi": "00",
                "MoTaLoi": MESSAGES["00"],
                "MaDoiTac": transaction["MaDoiTac"],
                "MaThamChieu": transaction["MaThamChieu"],
                "TrangThaiGD": transaction["TrangThaiGD"],
                "SoTien": transaction["SoTien"],
                "MaTienTe": transaction["MaTienTe"],
                "MaGiaoDich": transaction.get("MaGiaoDich", ""),
                "MaNganHang": transaction.get("MaNganHangThanhToan", transaction["MaNganHang"]),
                "ThoiGianGD": transaction.get("ThoiGianThanhToan", transaction["ThoiGianGD"]),
            }
        )

    def bill(self, request: MockRequest) -> MockResponse:
        transaction = self._lookup(request, "GET_BILL")
        if isinstance(transaction, MockResponse):
            return transaction
        if transaction["TrangThaiGD"] != "1":
            return _error("07", f"TrangThaiGD {transaction['TrangThaiGD']}")
        pdf = render_receipt(transaction)
        return MockResponse(
            status=200,
            headers={
                "content-type": "application/pdf",
                "content-disposition": f'inline; filename="bienlai-{transaction["MaThamChieu"]}.pdf"',
            },
            body=pdf,
        )

    # -- checkout and the confirm callback ------------------------------------------------
    def checkout_page(self, request: MockRequest) -> MockResponse:
        reference = request.path_params["reference"]
        with self.lock:
            transaction = self.transactions.get(reference)
        if transaction is None:
            return MockResponse.text(_page("Không tìm thấy giao dịch", ""), 404, "text/html")
        receipt = transaction["ThongTinBienLai"]
        rows = "".join(
            f"<li>{escape(fee['TenPhiLePhi'])}: {fee['SoTien']:,} VND</li>"
            for fee in receipt["PhiLePhi"]
        )
        form = (
            f'<form method="post" action="{escape(reference)}">'
            '<button name="action" value="pay">Thanh toán</button> '
            '<button name="action" value="cancel">Hủy</button></form>'
            if transaction["TrangThaiGD"] == "3"
            else f"<p>Trạng thái: {escape(transaction['TrangThaiGD'])}</p>"
        )
        body = (
            f"<p>Hồ sơ {escape(receipt['MaHoSo'])}: {escape(receipt['TenTTHC'])}</p>"
            f"<ul>{rows}</ul><p><b>Tổng: {transaction['SoTien']:,} VND</b></p>{form}"
        )
        return MockResponse.text(_page("Cổng thanh toán (mock)", body), 200, "text/html")

    def checkout_submit(self, request: MockRequest) -> MockResponse:
        reference = request.path_params["reference"]
        form = parse_qs(request.body.decode("utf-8", "replace"))
        action = (form.get("action") or [""])[0]
        if action not in ("pay", "cancel"):
            return MockResponse.text(_page("Yêu cầu không hợp lệ", "action?"), 400, "text/html")
        outcome = self.settle(reference, paid=action == "pay")
        if outcome is None:
            return MockResponse.text(_page("Không tìm thấy giao dịch", ""), 404, "text/html")
        if "error" in outcome:
            return MockResponse.text(_page(outcome["error"], ""), 409, "text/html")
        title = "Thanh toán thành công" if action == "pay" else "Đã hủy giao dịch"
        return MockResponse.text(_page(title, escape(str(outcome["callback"]))), 200, "text/html")

    def _settle_json(self, reference: str, paid: bool, callback: bool = True) -> MockResponse:
        outcome = self.settle(reference, paid, callback=callback)
        if outcome is None:
            return MockResponse.json({"error": f"unknown transaction {reference}"}, status=404)
        if "error" in outcome:
            return MockResponse.json(outcome, status=409)
        return MockResponse.json(outcome)

    def _auto_pay(self, reference: str) -> None:
        self.settle(reference, paid=True)

    def settle(self, reference: str, paid: bool, *, callback: bool = True) -> dict[str, Any] | None:
        """Pay (or fail) a pending transaction and send the confirm callback (unless lost)."""
        with self.lock:
            transaction = self.transactions.get(reference)
            if transaction is None:
                return None
            if transaction["TrangThaiGD"] != "3":
                return {"error": f"transaction {reference} is already finished"}
            self._payment_sequence += 1
            transaction["TrangThaiGD"] = "1" if paid else "4"
            transaction["MaGiaoDich"] = f"PG{now_text()[2:8]}{self._payment_sequence:07d}"
            transaction["MaNganHangThanhToan"] = transaction["MaNganHang"] or "970415"
            transaction["ThoiGianThanhToan"] = now_text()
        if not callback:
            return {"MaThamChieu": reference, "callback": {"lost": True}}
        return {"MaThamChieu": reference, "callback": self.send_callback(reference, attempt=0)}

    def confirm_message(self, reference: str) -> dict[str, Any]:
        """The signed confirm (IPN) message for a settled transaction."""
        with self.lock:
            transaction = self.transactions[reference]
            message: dict[str, Any] = {
                "LoaiBanTin": "CONFIRM",
                "MaLoi": "00" if transaction["TrangThaiGD"] == "1" else "24",
                "MaDoiTac": transaction["MaDoiTac"],
                "MaThamChieu": reference,
                "SoTien": transaction["SoTien"],
                "MaTienTe": transaction["MaTienTe"],
                "MaGiaoDich": transaction["MaGiaoDich"],
                "MaNganHang": transaction["MaNganHangThanhToan"],
                "ThoiGianGD": transaction["ThoiGianThanhToan"],
                "ThongTinGiaoDich": transaction["ThongTinGiaoDich"],
            }
        message["MaXacThuc"] = checksum.compute(
            message,
            checksum.CONFIRM_FIELDS,
            self.settings.payment_secret,
            self.settings.payment_scheme,
        )
        return message

    def send_callback(self, reference: str, attempt: int | None = None) -> dict[str, Any]:
        """POST the confirm to the merchant; record and return what came back.

        With ``attempt`` (automatic sends), an answer other than ``00``/``02`` schedules
        the next retry after ``MockSettings.callback_retry_seconds[attempt]``.
        """
        with self.lock:
            if reference not in self.transactions:  # reset while a retry was pending
                return {"error": f"unknown transaction {reference}"}
        message = self.confirm_message(reference)
        url = f"{self.settings.gateway_url.rstrip('/')}/v1/callbacks/payments"
        record: dict[str, Any] = {"url": url, "sent_at": now_text(), "message": message}
        try:
            response = self.http.post(url, json=message)
            record["http_status"] = response.status_code
            answer = response.json()
            record["answer"] = answer
            validator = json_validator(CONTRACT, "/components/schemas/MerchantAnswer")
            record["answer_errors"] = schema_errors(validator, answer)
            record["answer_checksum_ok"] = isinstance(answer, dict) and checksum.verify(
                answer,
                checksum.MERCHANT_ANSWER_FIELDS,
                self.settings.payment_secret,
                self.settings.payment_scheme,
            )
        except (httpx.HTTPError, ValueError) as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        record["attempt"] = attempt
        with self.lock:
            self.transactions[reference]["callbacks"].append(record)
        delays = self.settings.callback_retry_seconds
        answer = record.get("answer")
        settled = (
            isinstance(answer, dict)
            and answer.get("MaLoi") in ("00", "02")
            and record["answer_checksum_ok"]
        )
        if attempt is not None and not settled and attempt < len(delays):
            timer = threading.Timer(delays[attempt], self.send_callback, [reference, attempt + 1])
            timer.daemon = True
            with self.lock:
                self._timers.append(timer)
            timer.start()
        return record


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def create_mock(settings: MockSettings) -> PaymentMock:
    """The payment mock for ``mocks.server``."""
    return PaymentMock(settings)
