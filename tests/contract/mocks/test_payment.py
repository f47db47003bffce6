"""Payment mock in-process: MaXacThuc (both schemes), INIT/QUERY/GET_BILL, checkout, the
signed confirm callback (to a fake merchant with its own checksum code), faults.

Every JSON answer is validated against contracts/payment/openapi.yaml.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import requests
import responses

from mocks._testing import FakeMerchant, signature
from mocks.framework import (
    FaultSpec,
    MockRequest,
    MockResponse,
    json_validator,
    register_responses,
    schema_errors,
)
from mocks.payment.app import PaymentMock
from mocks.settings import MockSettings

CONTRACT = "payment/openapi.yaml"
INIT_ORDER = [
    "LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "SoTien", "LoaiHinhThanhToan",
    "MaKenhThanhToan", "MaThietBi", "NgonNgu", "MaTienTe", "MaNganHang", "ThongTinGiaoDich",
    "ThoiGianGD", "Ip",
]  # fmt: skip
QUERY_ORDER = ["LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD"]


class Platform:
    def __init__(
        self,
        scheme: str = "sha256-suffix",
        auto_pay: float | None = None,
        retries: tuple[float, ...] = (),
    ) -> None:
        self.scheme = scheme
        self.merchant = FakeMerchant(scheme=scheme)
        settings = MockSettings(
            payment_scheme=scheme,
            auto_pay_seconds=auto_pay,
            callback_retry_seconds=retries,
            gateway_url="http://gateway.test",
            public_url="http://mocks.test",
        )

        def merchant(request: httpx.Request) -> httpx.Response:
            assert request.url.path == "/v1/callbacks/payments"
            return httpx.Response(200, json=self.merchant.answer(json.loads(request.content)))

        http = httpx.Client(transport=httpx.MockTransport(merchant))
        self.mock = PaymentMock(settings, http=http)

    def sign(self, message: dict[str, Any], order: list[str]) -> dict[str, Any]:
        values = [str(message[key]) for key in order]
        return {**message, "MaXacThuc": signature(values, "demo-payment-secret", self.scheme)}

    def post(self, path: str, message: Any) -> MockResponse:
        raw = message if isinstance(message, bytes) else json.dumps(message).encode()
        return self.mock.handle(MockRequest("POST", path, body=raw))

    def init(self, reference: str = "REF0001", amount: int = 50000, **over: Any) -> Any:
        message = init_message(reference, amount)
        message.update(over)
        message = self.sign(message, INIT_ORDER) if "MaXacThuc" not in over else message
        answer = self.post("/api/v1/init", message)
        data = answer.json_body()
        assert schema_errors(json_validator(CONTRACT, "/components/schemas/InitAnswer"), data) == []
        return data

    def query_message(self, kind: str, reference: str) -> dict[str, Any]:
        message = {"LoaiBanTin": kind, "PhienBan": "1.0.6", "MaDoiTac": "HANOI",
                   "MaThamChieu": reference, "ThoiGianGD": "20241120100000"}  # fmt: skip
        return self.sign(message, QUERY_ORDER)

    def query(self, reference: str = "REF0001", **over: Any) -> Any:
        data = self.post("/api/v1/query", {**self.query_message("QUERY", reference), **over})
        body = data.json_body()
        assert (
            schema_errors(json_validator(CONTRACT, "/components/schemas/QueryAnswer"), body) == []
        )
        return body

    def bill(self, reference: str = "REF0001") -> MockResponse:
        return self.post("/api/v1/bill", self.query_message("GET_BILL", reference))


def init_message(reference: str, amount: int) -> dict[str, Any]:
    return {
        "LoaiBanTin": "INIT", "PhienBan": "1.0.6", "MaDoiTac": "HANOI",
        "MaThamChieu": reference, "SoTien": amount, "LoaiHinhThanhToan": "PAY",
        "MaKenhThanhToan": "1", "MaThietBi": "1", "NgonNgu": "vi-VN", "MaTienTe": "VND",
        "MaNganHang": "", "ThongTinGiaoDich": "Thanh toan le phi ho so",
        "ThoiGianGD": "20241120093000", "Ip": "10.1.2.3",
        "ThongTinBienLai": {
            "MaDichVu": "1", "MaDVC": "2.000815.000.00.00.H26.01",
            "TenDVC": "Cấp giấy phép sửa chữa, cải tạo", "MaTTHC": "2.000815.000.00.00.H26",
            "TenTTHC": "Cấp giấy phép sửa chữa, cải tạo", "MaDonVi": "000.00.00.H26",
            "TenDonVi": "UBND Thành phố Hà Nội", "MaHoSo": "000.00.00.H26-241120-0001",
            "TKThuHuong": "3511000123456", "MaNHThuHuong": "970415",
            "TenTKThuHuong": "Kho bạc Nhà nước Hà Nội", "NoiDungThanhToan": "Lệ phí",
            "HoTenNguoiNop": "Nguyễn Văn An", "SoCMNDNguoiNop": "001203001234",
            "DiaChiNguoiNop": "12 Hàng Bạc, Hoàn Kiếm, Hà Nội",
            "PhiLePhi": [
                {"LoaiPhiLePhi": "2", "MaPhiLePhi": "LPXD", "TenPhiLePhi": "Lệ phí XD",
                 "SoTien": amount - 10000},
                {"LoaiPhiLePhi": "1", "MaPhiLePhi": "PTD", "TenPhiLePhi": "Phí thẩm định",
                 "SoTien": 10000},
            ],
        },
    }  # fmt: skip


@pytest.fixture(params=["sha256-suffix", "hmac-sha256"])
def platform(request: pytest.FixtureRequest) -> Platform:
    return Platform(request.param)


def test_init_pay_query_bill_and_callback(platform: Platform) -> None:
    answer = platform.init()
    assert answer["MaLoi"] == "00"
    assert answer["UrlThanhToan"] == "http://mocks.test/payment/checkout/REF0001"
    assert platform.query()["TrangThaiGD"] == "3"
    assert platform.bill().json_body()["MaLoi"] == "07"
    page = platform.mock.handle(MockRequest("GET", "/checkout/REF0001"))
    assert page.status == 200 and b'value="pay"' in page.body
    paid = platform.mock.handle(MockRequest("POST", "/checkout/REF0001", body=b"action=pay"))
    assert paid.status == 200 and "Thanh toán thành công" in paid.body.decode()
    (confirm,) = platform.merchant.received
    assert confirm["MaLoi"] == "00" and confirm["SoTien"] == 50000
    validator = json_validator(
        CONTRACT,
        "/paths/~1api~1v1~1init/post/callbacks/paymentConfirmed/"
        "http:~1~1127.0.0.1:8080~1v1~1callbacks~1payments/post/requestBody/content/"
        "application~1json/schema",
    )
    assert schema_errors(validator, confirm) == []
    (record,) = platform.mock.state()["transactions"]["REF0001"]["callbacks"]
    assert record["answer"]["MaLoi"] == "00" and record["answer_checksum_ok"]
    assert record["answer_errors"] == []
    status = platform.query()
    assert status["TrangThaiGD"] == "1" and status["MaGiaoDich"] == confirm["MaGiaoDich"]
    receipt = platform.bill()
    assert receipt.headers["content-type"] == "application/pdf"
    assert receipt.body.startswith(b"%PDF-") and b"%%EOF" in receipt.body[-32:]
    again = platform.mock.handle(MockRequest("POST", "/checkout/REF0001", body=b"action=pay"))
    assert again.status == 409


def test_repeated_callback_is_answered_already_confirmed(platform: Platform) -> None:
    platform.init()
    platform.mock.handle(MockRequest("POST", "/_mock/pay/REF0001"))
    resent = platform.mock.handle(MockRequest("POST", "/_mock/callbacks/REF0001")).json_body()
    assert resent["answer"]["MaLoi"] == "02"
    assert len(platform.merchant.received) == 2
    assert platform.mock.handle(MockRequest("POST", "/_mock/callbacks/NOPE")).status == 404


def test_pay_with_a_lost_callback_sends_nothing(platform: Platform) -> None:
    platform.init()
    lost = platform.mock.handle(
        MockRequest("POST", "/_mock/pay/REF0001", body=b'{"callback": false}')
    ).json_body()
    assert lost["callback"] == {"lost": True} and platform.merchant.received == []
    assert platform.query()["TrangThaiGD"] == "1"
    bad = platform.mock.handle(MockRequest("POST", "/_mock/pay/REF0001", body=b'{"callback": 1}'))
    assert bad.status == 400


def test_cancel_and_failed_payments(platform: Platform) -> None:
    platform.init("REFA")
    platform.mock.handle(MockRequest("POST", "/checkout/REFA", body=b"action=cancel"))
    assert platform.query("REFA")["TrangThaiGD"] == "4"
    assert platform.merchant.received[-1]["MaLoi"] == "24"
    platform.init("REFB")
    failed = platform.mock.handle(
        MockRequest("POST", "/_mock/pay/REFB", body=b'{"outcome": "failed"}')
    )
    assert failed.status == 200 and platform.query("REFB")["TrangThaiGD"] == "4"
    bad = platform.mock.handle(MockRequest("POST", "/_mock/pay/REFB", body=b'{"outcome": "x"}'))
    assert bad.status == 400
    assert (
        platform.mock.handle(MockRequest("POST", "/checkout/REFB", body=b"action=x")).status == 400
    )
    assert platform.mock.handle(MockRequest("GET", "/checkout/NOPE")).status == 404


def test_merchant_answer_with_a_bad_checksum_is_noted() -> None:
    platform = Platform()
    platform.merchant.bad_answer_checksum = True
    platform.init()
    platform.mock.handle(MockRequest("POST", "/_mock/pay/REF0001"))
    (record,) = platform.mock.state()["transactions"]["REF0001"]["callbacks"]
    assert record["answer_checksum_ok"] is False


def test_auto_pay_after_a_delay() -> None:
    platform = Platform(auto_pay=0.05)
    platform.init()
    deadline = time.monotonic() + 5
    while platform.query()["TrangThaiGD"] == "3" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert platform.query()["TrangThaiGD"] == "1"
    assert platform.merchant.received[0]["MaThamChieu"] == "REF0001"


@pytest.mark.parametrize(
    ("over", "code", "needle"),
    [
        ({"MaXacThuc": "0" * 64}, "01", "MaXacThuc"),
        ({"MaXacThuc": "A" * 64}, "02", "MaXacThuc"),
        ({"SoTien": "50000"}, "02", "SoTien"),
        ({"MaThamChieu": "REF-1"}, "02", "MaThamChieu"),
        ({"NgonNgu": "fr-FR"}, "02", "NgonNgu"),
        ({"Extra": 1}, "02", "Extra"),
        ({"MaDoiTac": "HCM"}, "03", "HCM"),
        ({"PhienBan": "1.0.5"}, "08", "1.0.5"),
        ({"SoTien": 70000, "ThongTinBienLai": init_message("R", 50000)["ThongTinBienLai"]}, "06", "70000"),
    ],
)  # fmt: skip
def test_bad_init_requests_get_their_ma_loi(
    platform: Platform, over: dict[str, Any], code: str, needle: str
) -> None:
    answer = platform.init(**over)
    assert answer["MaLoi"] == code and needle in answer["MoTaLoi"]
    assert platform.mock.state()["transactions"] == {}


def test_duplicate_reference_and_non_json(platform: Platform) -> None:
    assert platform.init()["MaLoi"] == "00"
    assert platform.init()["MaLoi"] == "04"
    answer = platform.post("/api/v1/init", b"MaLoi=1")
    assert answer.status == 400 and answer.json_body()["MaLoi"] == "02"


def test_a_checksum_in_the_wrong_field_order_is_refused() -> None:
    platform = Platform()
    message = init_message("REF0001", 50000)
    swapped = list(INIT_ORDER)
    swapped[3], swapped[4] = swapped[4], swapped[3]
    values = [str(message[key]) for key in swapped]
    message["MaXacThuc"] = signature(values, "demo-payment-secret", "sha256-suffix")
    assert platform.post("/api/v1/init", message).json_body()["MaLoi"] == "01"
    hmac_signed = Platform("hmac-sha256").sign(init_message("REF0001", 50000), INIT_ORDER)
    assert platform.post("/api/v1/init", hmac_signed).json_body()["MaLoi"] == "01"


@pytest.mark.parametrize(
    ("path", "kind", "over", "code"),
    [
        ("/api/v1/query", "QUERY", {"MaThamChieu": "UNKNOWN"}, "05"),
        ("/api/v1/query", "QUERY", {"MaXacThuc": "1" * 64}, "01"),
        ("/api/v1/query", "QUERY", {"ThoiGianGD": "20241332000000"}, "02"),
        ("/api/v1/query", "GET_BILL", {}, "02"),
        ("/api/v1/bill", "GET_BILL", {"MaThamChieu": "UNKNOWN"}, "05"),
        ("/api/v1/bill", "GET_BILL", {"MaXacThuc": "1" * 64}, "01"),
        ("/api/v1/bill", "GET_BILL", {}, "07"),
        ("/api/v1/bill", "QUERY", {}, "02"),
        ("/api/v1/bill", "GET_BILL", {"MaDoiTac": None}, "02"),
    ],
)
def test_bad_query_and_bill_requests(path: str, kind: str, over: dict[str, Any], code: str) -> None:
    platform = Platform()
    platform.init()
    changes = dict(over)
    message = platform.query_message(kind, changes.pop("MaThamChieu", "REF0001"))
    message.update(changes)
    message = {key: value for key, value in message.items() if value is not None}
    body = platform.post(path, message).json_body()
    validator = json_validator(CONTRACT, "/components/schemas/PlatformError")
    assert schema_errors(validator, body) == []
    assert body["MaLoi"] == code


@pytest.mark.parametrize("status", [500, 503])
def test_faults_answer_in_the_platforms_form(status: int) -> None:
    platform = Platform()
    platform.mock.add_fault(FaultSpec(route="POST /api/v1/init", status=status, count=1))
    answer = platform.post("/api/v1/init", platform.sign(init_message("R1", 50000), INIT_ORDER))
    assert answer.status == status
    validator = json_validator(CONTRACT, "/components/schemas/PlatformError")
    assert schema_errors(validator, answer.json_body()) == []


def test_requests_client_in_process_with_timeouts() -> None:
    platform = Platform()
    base = "http://paygov.test/payment"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        register_responses(rsps, base, platform.mock)
        message = platform.sign(init_message("R1", 50000), INIT_ORDER)
        answer = requests.post(f"{base}/api/v1/init", json=message, timeout=5)
        assert answer.json()["MaLoi"] == "00"
        platform.mock.add_fault(FaultSpec(route="POST /api/v1/query", timeout=True, count=1))
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.post(f"{base}/api/v1/query", json=platform.query_message("QUERY", "R1"),
                          timeout=5)  # fmt: skip
        answer = requests.post(
            f"{base}/api/v1/query", json=platform.query_message("QUERY", "R1"), timeout=5
        )
        assert answer.json()["TrangThaiGD"] == "3"


@pytest.mark.parametrize(
    "mode",
    [{"status": 503}, {"error_rate": 1.0}, {"expired_session": True}, {"latency_ms": 1},
     {"oversized_bytes": 20_000}],
    ids=lambda mode: next(iter(mode)),
)  # fmt: skip
@pytest.mark.parametrize("path", ["/api/v1/init", "/api/v1/query", "/api/v1/bill"])
def test_answers_under_every_fault_mode_follow_the_contract(
    path: str, mode: dict[str, Any]
) -> None:
    platform = Platform()
    platform.init("R1")
    platform.mock.handle(MockRequest("POST", "/_mock/pay/R1"))
    message = {
        "/api/v1/init": platform.sign(init_message("R2", 50000), INIT_ORDER),
        "/api/v1/query": platform.query_message("QUERY", "R1"),
        "/api/v1/bill": platform.query_message("GET_BILL", "R1"),
    }[path]
    platform.mock.add_fault(FaultSpec(route=f"POST {path}", count=1, **mode))
    answer = platform.post(path, message)
    if "oversized_bytes" in mode:
        assert len(answer.body) >= mode["oversized_bytes"]
    if answer.headers["content-type"] == "application/pdf":
        assert answer.body.startswith(b"%PDF-") and mode.keys() & {"latency_ms", "oversized_bytes"}
        return
    schema = {"/api/v1/init": "InitAnswer", "/api/v1/query": "QueryAnswer"}.get(
        path, "PlatformError"
    )
    validator = json_validator(CONTRACT, f"/components/schemas/{schema}")
    assert schema_errors(validator, answer.json_body()) == []


def test_unanswered_confirms_are_retried_until_accepted() -> None:
    platform = Platform(retries=(0.01, 0.01, 0.01))
    platform.merchant.answer_code = "99"
    platform.init()
    platform.mock.handle(MockRequest("POST", "/_mock/pay/REF0001"))
    deadline = time.monotonic() + 5
    while len(platform.merchant.received) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    callbacks = platform.mock.state()["transactions"]["REF0001"]["callbacks"]
    assert [c["attempt"] for c in callbacks] == [0, 1, 2, 3]  # then it gives up
    assert len(platform.merchant.received) == 4

    accepted = Platform(retries=(0.01, 0.01))
    accepted.init()
    accepted.mock.handle(MockRequest("POST", "/_mock/pay/REF0001"))
    time.sleep(0.1)
    assert len(accepted.merchant.received) == 1
