"""The portal mock's procedure catalogue (LayDanhSachTTHC, LayThuTuc, LayDanhMuc*).

Rules:
- Seeded from ``mocks/portal/data/procedures.json`` (≥50 Hanoi procedures) and
  ``provinces.json``; read-only, deterministic.
- Records are built with keys in the contract's order (openapi.yaml ``Procedure`` =
  portal.xsd ``ThuTuc``), so the SOAP binding can serialize them as they are.
- A local procedure code (``2.000815.000.00.00.H26``) is looked up by its national part.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"

_STEPS = (
    "Tổ chức, cá nhân chuẩn bị hồ sơ theo quy định và nộp tại Bộ phận một cửa hoặc trên "
    "Cổng Dịch vụ công quốc gia.",
    "Bộ phận một cửa kiểm tra, tiếp nhận hồ sơ; trường hợp hồ sơ chưa đầy đủ thì hướng dẫn "
    "bổ sung một lần.",
    "Cơ quan có thẩm quyền thẩm định, giải quyết hồ sơ trong thời hạn quy định.",
    "Trả kết quả cho tổ chức, cá nhân tại Bộ phận một cửa, qua dịch vụ bưu chính công ích "
    "hoặc trên Cổng Dịch vụ công.",
)


@lru_cache(maxsize=1)
def _seed() -> list[dict[str, Any]]:
    data = json.loads((DATA / "procedures.json").read_text(encoding="utf-8"))
    procedures: list[dict[str, Any]] = data["procedures"]
    return procedures


@lru_cache(maxsize=1)
def provinces() -> list[dict[str, str]]:
    """Provinces as ``{MATINH (2 digits), TENTINH}``, sorted by code."""
    data = json.loads((DATA / "provinces.json").read_text(encoding="utf-8"))
    return [
        {"MATINH": code[-2:], "TENTINH": name} for code, name in sorted(data["provinces"].items())
    ]


def summaries(field_code: str | None = None, level: str | None = None) -> list[dict[str, Any]]:
    """The catalogue (``LayDanhSachTTHC``), optionally filtered by field and level."""
    return [
        {
            "MATTHC": item["MATTHC"],
            "TENTTHC": item["TENTTHC"],
            "MALINHVUC": item["MALINHVUC"],
            "TENLINHVUC": item["TENLINHVUC"],
            "MUCDO": item["MUCDO"],
            "CAPTHUCHIEN": item["CAPTHUCHIEN"],
        }
        for item in _seed()
        if (field_code is None or item["MALINHVUC"] == field_code)
        and (level is None or item["MUCDO"] == level)
    ]


def _channels(level: str) -> list[dict[str, str]]:
    channels = [
        {"KENH": "Trực tiếp", "MOTA": "Nộp hồ sơ trực tiếp tại Bộ phận một cửa."},
        {
            "KENH": "Trực tuyến",
            "MOTA": "Nộp hồ sơ trực tuyến trên Cổng Dịch vụ công quốc gia"
            + (" (toàn trình, thanh toán trực tuyến)." if level == "toàn trình" else "."),
        },
    ]
    if level == "toàn trình":
        channels.append(
            {"KENH": "Dịch vụ bưu chính", "MOTA": "Nhận kết quả qua dịch vụ bưu chính công ích."}
        )
    return channels


def procedure(code: str) -> dict[str, Any] | None:
    """One procedure in full (``LayThuTuc``) by national or local code; None when unknown."""
    national = code[:8]
    item = next((p for p in _seed() if p["MATTHC"] == national), None)
    if item is None:
        return None
    return {
        "MATTHC": item["MATTHC"],
        "TENTTHC": item["TENTTHC"],
        "MUCDO": item["MUCDO"],
        "CAPTHUCHIEN": item["CAPTHUCHIEN"],
        "THOIHANGIAIQUYET": item["THOIHANGIAIQUYET"],
        "LINHVUCTHUCHIEN": [{"MALINHVUC": item["MALINHVUC"], "TENLINHVUC": item["TENLINHVUC"]}],
        "TRINHTUTHUCHIEN": [
            {"BUOC": index, "NOIDUNG": text} for index, text in enumerate(_STEPS, start=1)
        ],
        "CACHTHUCTHUCHIEN": _channels(item["MUCDO"]),
        "THANHPHANHOSO": [
            {"MATHANHPHAN": f"TP{index:02d}", "TENGIAYTO": name, "SOBANCHINH": 1, "SOBANSAO": 0}
            for index, name in enumerate(item["GIAYTO"], start=1)
        ],
        "KETQUATHUCHIEN": [{"MAKETQUA": f"KQ.{item['MATTHC']}", "TENKETQUA": item["KETQUA"]}],
        "CANCUPHAPLY": [
            {
                "SOKYHIEU": "61/2018/NĐ-CP",
                "TRICHYEU": "Nghị định về thực hiện cơ chế một cửa, một cửa liên thông trong "
                "giải quyết thủ tục hành chính",
            },
            {
                "SOKYHIEU": "42/2022/NĐ-CP",
                "TRICHYEU": "Nghị định quy định về việc cung cấp thông tin và dịch vụ công "
                "trực tuyến của cơ quan nhà nước trên môi trường mạng",
            },
        ],
        "COQUANTHUCHIEN": [dict(item["COQUAN"])],
        "PHILEPHI": [dict(fee) for fee in item["PHILEPHI"]],
    }


def agencies() -> list[dict[str, str]]:
    """Implementing agencies found in the catalogue (``LayDanhMucCoQuan``), unique by code."""
    seen: dict[str, dict[str, str]] = {}
    for item in _seed():
        seen.setdefault(item["COQUAN"]["MACOQUAN"], dict(item["COQUAN"]))
    return [seen[code] for code in sorted(seen)]


def fees() -> list[dict[str, Any]]:
    """Fees found in the catalogue (``LayDanhMucLePhi``), unique by (code, amount)."""
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for item in _seed():
        for fee in item["PHILEPHI"]:
            seen.setdefault((fee["MAPHILEPHI"], fee["MUCPHI"]), dict(fee))
    return [seen[key] for key in sorted(seen)]


def size() -> int:
    """Number of procedures in the catalogue."""
    return len(_seed())
