"""``MaXacThuc``: the payment platform's message checksum, in both deployed schemes.

Rules (reference section 3, ``contracts/payment/openapi.yaml``):
- The fields of a message are joined with ``|`` in the fixed order of its kind
  (:data:`FIELD_ORDERS`); integers in decimal, a missing field as the empty string.
- ``sha256-suffix`` (default): lowercase hex SHA-256 of the joined fields with the secret
  appended as one more ``|``-separated field.
- ``hmac-sha256``: lowercase hex HMAC-SHA256 keyed with the secret over the joined fields
  (no secret in the text).
- Verification compares in constant time (:func:`hmac.compare_digest`) and never raises
  on a malformed checksum: it is simply not equal.
- Pure; no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Literal

Scheme = Literal["sha256-suffix", "hmac-sha256"]
SCHEMES: tuple[Scheme, ...] = ("sha256-suffix", "hmac-sha256")

FIELD_ORDERS: dict[str, tuple[str, ...]] = {
    "INIT": (
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
    ),
    "CONFIRM": (
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
    ),
    "QUERY": ("LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD"),
    "GET_BILL": ("LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD"),
    "MERCHANT_ANSWER": ("MaLoi", "MaDoiTac", "MaThamChieu", "ThoiGianGD"),
}


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        raise TypeError("MaXacThuc: a boolean is not a message field value")
    return str(value)


def joined_fields(kind: str, fields: Mapping[str, object]) -> str:
    """The ``|``-joined text of ``fields`` in the order of ``kind`` (without the secret)."""
    try:
        order = FIELD_ORDERS[kind]
    except KeyError:
        raise ValueError(f"MaXacThuc: unknown message kind {kind!r}") from None
    return "|".join(_text(fields.get(name)) for name in order)


def compute(kind: str, fields: Mapping[str, object], secret: str, scheme: Scheme) -> str:
    """The ``MaXacThuc`` of a message of ``kind``."""
    text = joined_fields(kind, fields)
    if scheme == "sha256-suffix":
        return hashlib.sha256(f"{text}|{secret}".encode()).hexdigest()
    if scheme == "hmac-sha256":
        return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()
    raise ValueError(f"MaXacThuc: unknown scheme {scheme!r} (sha256-suffix or hmac-sha256)")


def verify(kind: str, fields: Mapping[str, object], secret: str, scheme: Scheme) -> bool:
    """Whether ``fields["MaXacThuc"]`` is right, compared in constant time."""
    given = fields.get("MaXacThuc")
    if not isinstance(given, str):
        return False
    expected = compute(kind, fields, secret, scheme)
    return hmac.compare_digest(given.lower().encode("ascii", "replace"), expected.encode("ascii"))


def sign(kind: str, fields: Mapping[str, object], secret: str, scheme: Scheme) -> dict[str, object]:
    """A copy of ``fields`` with its ``MaXacThuc`` set."""
    return {**fields, "MaXacThuc": compute(kind, fields, secret, scheme)}
