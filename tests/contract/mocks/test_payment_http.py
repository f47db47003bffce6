"""Payment mock over real HTTP: INIT, the checkout page in a "browser", the confirm callback
sent with httpx to a fake merchant served on the same server, QUERY, GET_BILL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from mocks._testing import LiveMocks, signature
from mocks.framework import json_validator, schema_errors

INIT_ORDER = [
    "LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "SoTien", "LoaiHinhThanhToan",
    "MaKenhThanhToan", "MaThietBi", "NgonNgu", "MaTienTe", "MaNganHang", "ThongTinGiaoDich",
    "ThoiGianGD", "Ip",
]  # fmt: skip


@pytest.fixture
def payment(live_mocks: LiveMocks) -> Iterator[LiveMocks]:
    requests.post(f"{live_mocks.base_url}/payment/_mock/reset", timeout=5).raise_for_status()
    live_mocks.merchant.received.clear()
    live_mocks.merchant.confirmed.clear()
    yield live_mocks


def signed(message: dict[str, Any], order: list[str]) -> dict[str, Any]:
    values = [str(message[key]) for key in order]
    return {**message, "MaXacThuc": signature(values, "demo-payment-secret", "sha256-suffix")}


def init_body(reference: str) -> dict[str, Any]:
    return signed(
        {
            "LoaiBanTin": "INIT", "PhienBan": "1.0.6", "MaDoiTac": "HANOI",
            "MaThamChieu": reference, "SoTien": 25000, "LoaiHinhThanhToan": "PAY",
            "MaKenhThanhToan": "1", "MaThietBi": "1", "NgonNgu": "vi-VN", "MaTienTe": "VND",
            "MaNganHang": "970436", "ThongTinGiaoDich": "Le phi cap ban sao trich luc",
            "ThoiGianGD": "20241120093000", "Ip": "127.0.0.1",
            "ThongTinBienLai": {
                "MaDichVu": "1", "MaDVC": "2.000635.01", "TenDVC": "Cấp bản sao trích lục",
                "MaTTHC": "2.000635", "TenTTHC": "Cấp bản sao trích lục hộ tịch",
                "MaDonVi": "000.00.00.H26", "TenDonVi": "UBND phường Hàng Bạc",
                "MaHoSo": "000.00.00.H26-241120-0007", "TKThuHuong": "3511000123456",
                "MaNHThuHuong": "970415", "TenTKThuHuong": "Kho bạc Nhà nước Hà Nội",
                "NoiDungThanhToan": "Phí cấp bản sao", "HoTenNguoiNop": "Lê Thị Hoa",
                "PhiLePhi": [{"LoaiPhiLePhi": "1", "MaPhiLePhi": "PTLHT",
                              "TenPhiLePhi": "Phí cấp bản sao trích lục", "SoTien": 25000}],
            },
        },
        INIT_ORDER,
    )  # fmt: skip


def query_body(kind: str, reference: str) -> dict[str, Any]:
    message = {"LoaiBanTin": kind, "PhienBan": "1.0.6", "MaDoiTac": "HANOI",
               "MaThamChieu": reference, "ThoiGianGD": "20241120100000"}  # fmt: skip
    return signed(message, ["LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD"])


def test_checkout_in_a_browser_sends_the_callback_to_the_merchant(payment: LiveMocks) -> None:
    api = f"{payment.base_url}/payment/api/v1"
    answer = requests.post(f"{api}/init", json=init_body("HTTP0001"), timeout=5).json()
    assert answer["MaLoi"] == "00"
    page = requests.get(answer["UrlThanhToan"], timeout=5)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None
    paid = requests.post(f"{answer['UrlThanhToan']}", data={"action": "pay"}, timeout=10)
    assert paid.status_code == 200
    (confirm,) = payment.merchant.received
    assert confirm["MaThamChieu"] == "HTTP0001" and confirm["MaLoi"] == "00"
    query = requests.post(f"{api}/query", json=query_body("QUERY", "HTTP0001"), timeout=5).json()
    validator = json_validator("payment/openapi.yaml", "/components/schemas/QueryAnswer")
    assert schema_errors(validator, query) == [] and query["TrangThaiGD"] == "1"
    bill = requests.post(f"{api}/bill", json=query_body("GET_BILL", "HTTP0001"), timeout=5)
    assert bill.headers["content-type"] == "application/pdf"
    assert bill.content.startswith(b"%PDF-")
    state = requests.get(f"{payment.base_url}/payment/_mock/state", timeout=5).json()
    callbacks = state["transactions"]["HTTP0001"]["callbacks"]
    assert callbacks[0]["answer"]["MaLoi"] == "00" and callbacks[0]["answer_checksum_ok"]


def test_control_pay_and_faults_over_http(payment: LiveMocks) -> None:
    base = f"{payment.base_url}/payment"
    requests.post(f"{base}/api/v1/init", json=init_body("HTTP0002"), timeout=5)
    paid = requests.post(f"{base}/_mock/pay/HTTP0002", json={"outcome": "failed"}, timeout=10)
    assert paid.status_code == 200 and payment.merchant.received[0]["MaLoi"] == "24"
    fault = {"route": "POST /api/v1/query", "malformed": True, "count": 1}
    requests.post(f"{base}/_mock/faults", json=fault, timeout=5).raise_for_status()
    answer = requests.post(f"{base}/api/v1/query", json=query_body("QUERY", "HTTP0002"), timeout=5)
    with pytest.raises(requests.exceptions.JSONDecodeError):
        answer.json()
    fault = {"route": "POST /api/v1/query", "oversized_bytes": 3_000_000, "count": 1}
    requests.post(f"{base}/_mock/faults", json=fault, timeout=5).raise_for_status()
    big = requests.post(f"{base}/api/v1/query", json=query_body("QUERY", "HTTP0002"), timeout=5)
    assert len(big.content) == 3_000_000 and big.json()["TrangThaiGD"] == "4"
