"""Test helpers shipped with the mocks (like ``structlog.testing``), for any test suite.

- ``run_server(app)``: serve an ASGI app on a free port in a thread (context manager).
- ``FakeMerchant``: the merchant side of the payment IPN, with its own independent
  MaXacThuc implementation (so a field-order mistake in the mock cannot hide).
- ``contract_examples(path)``: every ``(pointer, example)`` pair in an OpenAPI file.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from mocks._contracts import load_contract

CONFIRM_ORDER = [
    "LoaiBanTin", "MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", "MaTienTe",
    "MaGiaoDich", "MaNganHang", "ThoiGianGD", "ThongTinGiaoDich",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def run_server(app: ASGIApp, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a thread; yield its base URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def signature(values: list[str], secret: str, scheme: str) -> str:
    """MaXacThuc computed independently of ``mocks.payment.checksum`` (a cross-check)."""
    if scheme == "hmac-sha256":
        return hmac.new(secret.encode(), "|".join(values).encode(), hashlib.sha256).hexdigest()
    return hashlib.sha256("|".join([*values, secret]).encode()).hexdigest()


@dataclass
class FakeMerchant:
    """The merchant side of the IPN: checks the confirm, answers in the contract's form."""

    secret: str = "demo-payment-secret"
    scheme: str = "sha256-suffix"
    answer_code: str | None = None  # force an answer code
    bad_answer_checksum: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)
    confirmed: set[str] = field(default_factory=set)

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        self.received.append(message)
        values = [str(message.get(name, "")) for name in CONFIRM_ORDER]
        expected = signature(values, self.secret, self.scheme)
        reference = message.get("MaThamChieu", "")
        if self.answer_code is not None:
            code = self.answer_code
        elif not hmac.compare_digest(expected, str(message.get("MaXacThuc", ""))):
            code = "97"
        elif reference in self.confirmed:
            code = "02"
        else:
            code = "00"
            self.confirmed.add(reference)
        answer = {
            "MaLoi": code,
            "MoTaLoi": {"00": "Đã ghi nhận", "97": "Sai mã xác thực", "02": "Đã xác nhận"}.get(
                code, "Lỗi"
            ),
            "MaDoiTac": message.get("MaDoiTac", ""),
            "MaThamChieu": reference,
            "ThoiGianGD": message.get("ThoiGianGD", ""),
        }
        values = [answer["MaLoi"], answer["MaDoiTac"], answer["MaThamChieu"], answer["ThoiGianGD"]]
        answer["MaXacThuc"] = signature(values, self.secret, self.scheme)
        if self.bad_answer_checksum:
            answer["MaXacThuc"] = "0" * 64
        return answer

    def asgi(self) -> Starlette:
        async def callback(request: Request) -> JSONResponse:
            return JSONResponse(self.answer(await request.json()))

        return Starlette(routes=[Route("/v1/callbacks/payments", callback, methods=["POST"])])


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def contract_examples(relative_path: str) -> list[tuple[str, str, Any]]:
    """``(name, schema pointer, example value)`` for every media-type example in a contract."""
    spec = load_contract(relative_path)
    found: list[tuple[str, str, Any]] = []

    def walk(node: Any, pointer: str) -> None:
        if isinstance(node, dict):
            if "schema" in node and "examples" in node:
                for name, example in node["examples"].items():
                    found.append((f"{pointer}:{name}", f"{pointer}/schema", example["value"]))
            for key, value in node.items():
                walk(value, f"{pointer}/{_escape(str(key))}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{pointer}/{index}")

    walk(spec.get("paths", {}), "/paths")
    return found


@dataclass
class LiveMocks:
    """Mocks served over HTTP at ``base_url`` (portal, payment, a fake merchant)."""

    base_url: str
    portal: Any
    payment: Any
    merchant: FakeMerchant
    settings: Any


def portal_dossier(
    dossier_code: str = "000.00.00.H26-241120-0001", status: str = "2", **fields: Any
) -> dict[str, Any]:
    """A complete, contract-valid ``DongBoHoSoMC`` record (fake person), fields overridable."""
    record: dict[str, Any] = {
        "MaHoSo": dossier_code,
        "MaTTHC": "1.001193",
        "TenTTHC": "Thủ tục đăng ký khai sinh",
        "MaLinhVuc": "HOTICH",
        "TenLinhVuc": "Hộ tịch",
        "KenhThucHien": "1",
        "ChuHoSo": "Nguyễn Văn An",
        "LoaiDoiTuong": "1",
        "MaDoiTuong": "",
        "SoGiayToChuHoSo": "001203001234",
        "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "001203001234"}],
        "Email": "an.nguyen@example.vn",
        "SoDienThoai": "0912345678",
        "TrichYeuHoSo": "Đăng ký khai sinh cho con",
        "NgayTiepNhan": "20241120083000",
        "NgayHenTra": "20241121170000",
        "NgayNopHoSo": "20241120080000",
        "TrangThaiHoSo": status,
        "NgayTra": "",
        "NgayTuChoi": "",
        "HinhThuc": "0",
        "NgayKetThucXuLy": "",
        "DonViXuLy": "UBND phường Hàng Bạc",
        "NoiNopHoSo": "Bộ phận một cửa UBND phường Hàng Bạc",
        "HoSoCoThanhPhanSoHoa": "1",
        "TaiKhoanDuocXacThucVoiVNeID": "1",
        "DuocThanhToanTrucTuyen": "0",
        "GhiChu": "",
        "TaiLieuNop": [
            {
                "TepDinhKemId": "TK-0001",
                "TenTepDinhKem": "Giấy chứng sinh.pdf",
                "IsDeleted": "False",
                "MaThanhPhanHoSo": "TP01",
                "DuongDanTaiTepTin": "https://motcua.hanoi.gov.vn/files/TK-0001.pdf",
                "DuocSoHoa": "1",
                "DuocTaiSuDung": "0",
                "DuocLayTuKhoDMQG": "0",
            }
        ],
        "DanhSachLePhi": [
            {
                "TenPhiLePhi": "Lệ phí đăng ký khai sinh",
                "MaPhiLePhi": "LPKS",
                "HinhThucThu": "1",
                "Gia": 0,
                "LoaiPhiLePhi": "2",
            }
        ],
        "DanhSachHoSoBoSung": [],
        "DanhSachGiayToKetQua": [],
        "DSKetNoiCSDL": [{"MaCSDL": "1"}],
    }
    record.update(fields)
    return record


def portal_progress(
    dossier_code: str = "000.00.00.H26-241120-0001", status: str = "4"
) -> dict[str, Any]:
    """A contract-valid ``CapNhatTienDoHoSoMC`` item."""
    return {
        "MaHoSo": dossier_code,
        "NguoiXuLy": "Trần Thị Bình",
        "ChucDanh": "Công chức tư pháp - hộ tịch",
        "ThoiDiemXuLy": "20241120100000",
        "PhongBanXuLy": "Bộ phận tư pháp - hộ tịch",
        "NoiDungXuLy": "Thụ lý hồ sơ",
        "TrangThai": status,
        "NgayBatDau": "20241120083000",
        "NgayKetThucTheoQuyDinh": "20241121170000",
    }
