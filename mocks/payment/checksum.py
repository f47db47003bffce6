"""MaXacThuc, the payment platform's message checksum, written from the reference.

Rules (shared/reference/external-systems.md §3):
- ``sha256-suffix`` (default): lowercase hex SHA-256 of the fields joined with ``|`` with
  the partner secret appended as the last field.
- ``hmac-sha256``: lowercase hex HMAC-SHA256 keyed with the secret over the same joined
  fields, without the secret.
- Integers join in decimal; a missing field joins as the empty string.
- Verification compares in constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

INIT_FIELDS = (
    "LoaiBanTin",
    "PhienBan",
    "MaDoiTac",
    "MaThamChieu",
    "SoTien",
    "LoaiHinhThanhToan",
    "MaKenhThanhToan",
    "MaThietBi",
    "NgonNgu",
    "MaTienTe",
    "MaNganHang",
    "ThongTinGiaoDich",
    "ThoiGianGD",
    "Ip",
)
CONFIRM_FIELDS = (
    "LoaiBanTin",
    "MaLoi",
    "MaDoiTac",
    "MaThamChieu",
    "SoTien",
    "MaTienTe",
    "MaGiaoDich",
    "MaNganHang",
    "ThoiGianGD",
    "ThongTinGiaoDich",
)
QUERY_FIELDS = ("LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD")
MERCHANT_ANSWER_FIELDS = ("MaLoi", "MaDoiTac", "MaThamChieu", "ThoiGianGD")
SCHEMES = ("sha256-suffix", "hmac-sha256")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        raise TypeError("a checksum field cannot be a boolean")
    return str(value)


def compute(message: Mapping[str, Any], fields: tuple[str, ...], secret: str, scheme: str) -> str:
    """The MaXacThuc of ``message`` over ``fields`` in that order."""
    values = [_text(message.get(name)) for name in fields]
    if scheme == "sha256-suffix":
        joined = "|".join([*values, secret])
        return hashlib.sha256(joined.encode("utf-8")).hexdigest()
    if scheme == "hmac-sha256":
        joined = "|".join(values)
        return hmac.new(secret.encode("utf-8"), joined.encode("utf-8"), hashlib.sha256).hexdigest()
    raise ValueError(f"unknown MaXacThuc scheme {scheme!r}; expected one of {SCHEMES}")


def verify(message: Mapping[str, Any], fields: tuple[str, ...], secret: str, scheme: str) -> bool:
    """Whether ``message["MaXacThuc"]`` is right, compared in constant time."""
    given = message.get("MaXacThuc")
    if not isinstance(given, str):
        return False
    expected = compute(message, fields, secret, scheme)
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace"))
