"""The payment platform's receipt (GET_BILL) as a real PDF, drawn with fpdf2.

Rules: Vietnamese text is drawn with a Unicode TrueType font (DejaVu Sans) when one is
installed; otherwise with a core font after removing diacritics, so a receipt is always
produced. The PDF carries the transaction's reference, platform transaction id, amount,
time, payer and fee lines.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from fpdf import FPDF

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)


def _ascii(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return (
        "".join(c for c in decomposed if not unicodedata.combining(c))
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def _vnd(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " VND"


def render_receipt(transaction: dict[str, Any]) -> bytes:
    """A PDF receipt for a paid transaction (``transaction`` = the INIT message + outcome)."""
    pdf = FPDF(format="A4")
    pdf.add_page()
    font = next((path for path in FONT_CANDIDATES if path.exists()), None)
    if font is not None:
        pdf.add_font("DejaVu", "", str(font))
        pdf.set_font("DejaVu", size=10)

        def line(text: str) -> str:
            return text
    else:
        pdf.set_font("Helvetica", size=10)
        line = _ascii
    receipt = transaction.get("ThongTinBienLai", {})
    pdf.set_font_size(13)
    pdf.cell(0, 8, line("BIÊN LAI THU PHÍ, LỆ PHÍ ĐIỆN TỬ"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(9)
    rows = [
        ("Đơn vị thu", receipt.get("TenDonVi", "")),
        ("Mã hồ sơ", receipt.get("MaHoSo", "")),
        ("Thủ tục", receipt.get("TenTTHC", "")),
        ("Người nộp", receipt.get("HoTenNguoiNop", "")),
        ("Mã tham chiếu", transaction["MaThamChieu"]),
        ("Mã giao dịch", transaction.get("MaGiaoDich", "")),
        ("Ngân hàng", transaction.get("MaNganHang", "")),
        ("Thời gian", transaction.get("ThoiGianThanhToan", "")),
        ("Nội dung", receipt.get("NoiDungThanhToan", "")),
    ]
    for label, value in rows:
        pdf.multi_cell(0, 6, line(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for fee in receipt.get("PhiLePhi", []):
        pdf.multi_cell(
            0,
            6,
            line(f"- {fee['TenPhiLePhi']} ({fee['MaPhiLePhi']}): {_vnd(int(fee['SoTien']))}"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.set_font_size(11)
    pdf.cell(0, 8, line(f"Tổng cộng: {_vnd(int(transaction['SoTien']))}"))
    return bytes(pdf.output())
