"""The portal's push of a dossier submitted online to the gateway (a signed webhook).

Rules (design.md, "Portal push authentication"):
- ``POST {gateway_url}/v1/callbacks/portal/dossiers`` with the dossier record as JSON
  (``TrangThaiHoSo`` 1, ``KenhThucHien`` 2) and headers ``X-Portal-Timestamp`` (epoch
  seconds), ``X-Portal-Nonce`` (unique per push) and ``X-Portal-Signature`` = lowercase
  hex HMAC-SHA256 with the shared secret over ``timestamp + "." + nonce + "." + body``.
- The record is validated against ``contracts/portal/schemas/dossier-record.schema.json``
  before it is sent; the exact bytes signed are the bytes sent.
- The portal assigns the dossier code: ``{agency}-{yyMMdd}-{NNNN}`` with a daily sequence
  starting at 5001 (so it never collides with codes the city assigns in tests and demos).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from mocks.framework import json_validator, schema_errors

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
RECORD_SCHEMA = "portal/schemas/dossier-record.schema.json"


def sign_push(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """``X-Portal-Signature`` for a push."""
    message = timestamp.encode() + b"." + nonce.encode() + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def online_dossier(agency_code: str, sequence: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """A dossier as a citizen submits it on the portal (fake person), fields overridable."""
    now = datetime.now(VIETNAM)
    stamp = now.strftime("%Y%m%d%H%M%S")
    record: dict[str, Any] = {
        "MaHoSo": f"{agency_code}-{now:%y%m%d}-{sequence:04d}",
        "MaTTHC": "1.001193",
        "TenTTHC": "Thủ tục đăng ký khai sinh",
        "MaLinhVuc": "HOTICH",
        "TenLinhVuc": "Hộ tịch",
        "KenhThucHien": "2",
        "ChuHoSo": "Phạm Minh Châu",
        "LoaiDoiTuong": "1",
        "SoGiayToChuHoSo": "001304005678",
        "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "001304005678"}],
        "Email": "chau.pham@example.vn",
        "SoDienThoai": "0987654321",
        "TrichYeuHoSo": "Đăng ký khai sinh trực tuyến",
        "NgayTiepNhan": stamp,
        "NgayHenTra": stamp,
        "NgayNopHoSo": stamp,
        "TrangThaiHoSo": "1",
        "HinhThuc": "1",
        "DonViXuLy": "UBND phường Hàng Bạc",
        "TaiKhoanDuocXacThucVoiVNeID": "1",
        "DuocThanhToanTrucTuyen": "1",
        "TaiLieuNop": [
            {
                "TepDinhKemId": f"DVC-{sequence:04d}-01",
                "TenTepDinhKem": "Giấy chứng sinh.pdf",
                "IsDeleted": "False",
                "MaThanhPhanHoSo": "TP01",
                "DuongDanTaiTepTin": f"https://dichvucong.gov.vn/files/DVC-{sequence:04d}-01.pdf",
            }
        ],
    }
    record.update(overrides)
    return record


def push_dossier(
    http: httpx.Client, gateway_url: str, secret: str, record: dict[str, Any]
) -> dict[str, Any]:
    """Validate, sign and send one push; return what happened (for ``/_mock/state``)."""
    errors = schema_errors(json_validator(RECORD_SCHEMA), record)
    if errors:
        return {"MaHoSo": record.get("MaHoSo"), "error": "record invalid: " + "; ".join(errors)}
    body = json.dumps(record, ensure_ascii=False).encode("utf-8")
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    headers = {
        "Content-Type": "application/json",
        "X-Portal-Timestamp": timestamp,
        "X-Portal-Nonce": nonce,
        "X-Portal-Signature": sign_push(secret, timestamp, nonce, body),
    }
    url = f"{gateway_url.rstrip('/')}/v1/callbacks/portal/dossiers"
    outcome: dict[str, Any] = {"MaHoSo": record["MaHoSo"], "url": url, "nonce": nonce}
    try:
        response = http.post(url, content=body, headers=headers)
        outcome["http_status"] = response.status_code
        try:
            outcome["answer"] = response.json()
        except ValueError:
            outcome["answer"] = response.text[:2000]
    except httpx.HTTPError as exc:
        outcome["error"] = f"{type(exc).__name__}: {exc}"
    return outcome
