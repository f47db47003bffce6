"""The portal's services, shared by the REST and SOAP bindings (input already contract-valid).

Rules:
- Every service answers a :class:`ServiceAnswer` (``error_code``, ``message``, ``result``);
  codes as documented in ``contracts/portal/openapi.yaml``.
- ``DongBoHoSoMC`` is all-or-nothing: every item is checked before any is stored.
  ``isUpdating`` must agree with the store ("True" = the portal holds the dossier:
  05 otherwise; "False" = it does not: 06 otherwise). An update must keep the status or
  make a legal transition (07 otherwise); a new dossier may arrive at any status.
- ``CapNhatTienDoHoSoMC`` needs a known dossier (05) and a legal ``TrangThai`` (07); the
  items of one call apply in order, and the dossier's ``TrangThaiHoSo`` follows them.
- Stored records keep the contract's key order (so SOAP can serialize them).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mocks.framework import contracts_dir
from mocks.portal import catalogue
from mocks.portal.rules import transition_allowed

STATUS_NAMES = {
    "1": "Mới đăng ký",
    "2": "Được tiếp nhận",
    "3": "Không được tiếp nhận",
    "4": "Đang xử lý",
    "5": "Yêu cầu bổ sung giấy tờ",
    "6": "Yêu cầu thực hiện nghĩa vụ tài chính",
    "7": "Công dân yêu cầu rút hồ sơ",
    "8": "Dừng xử lý",
    "9": "Đã xử lý xong",
    "10": "Đã trả kết quả",
}


@dataclass(frozen=True)
class ServiceAnswer:
    """What a portal service answers, in either binding."""

    error_code: str
    message: str
    result: Any = None

    @property
    def ok(self) -> bool:
        """True for ``error_code`` ``"00"``."""
        return self.error_code == "00"


@lru_cache(maxsize=1)
def _record_schema() -> dict[str, Any]:
    path = contracts_dir() / "portal" / "schemas" / "dossier-record.schema.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def _ordered(value: Any, schema: dict[str, Any]) -> Any:
    """Re-key ``value`` in the order of ``schema``'s properties (recursively for arrays)."""
    if isinstance(value, dict) and "properties" in schema:
        props: dict[str, Any] = schema["properties"]
        return {key: _ordered(value[key], props[key]) for key in props if key in value}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        item_schema: dict[str, Any] = schema["items"]
        if "oneOf" in item_schema:
            item_schema = item_schema["oneOf"][0]
        return [_ordered(item, item_schema) for item in value]
    return value


def ordered_record(record: dict[str, Any]) -> dict[str, Any]:
    """A dossier record with its keys in the contract's order."""
    result: dict[str, Any] = _ordered(record, _record_schema())
    return result


@dataclass
class PortalStore:
    """The dossiers the portal holds and the progress it received."""

    dossiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def sync(self, is_updating: str, records: list[dict[str, Any]]) -> ServiceAnswer:
        """``DongBoHoSoMC``."""
        seen: set[str] = set()
        for index, record in enumerate(records):
            code = record["MaHoSo"]
            where = f"data[{index}]"
            if code in seen:
                return ServiceAnswer("02", f"{where}.MaHoSo: hồ sơ {code} lặp lại trong lô")
            seen.add(code)
            stored = self.dossiers.get(code)
            if is_updating == "True" and stored is None:
                return ServiceAnswer(
                    "05", f"{where}.MaHoSo: không tìm thấy hồ sơ {code} để cập nhật"
                )
            if is_updating == "False" and stored is not None:
                return ServiceAnswer(
                    "06", f"{where}.MaHoSo: hồ sơ {code} đã tồn tại, hãy gửi isUpdating True"
                )
            if stored is not None:
                old, new = stored["TrangThaiHoSo"], record["TrangThaiHoSo"]
                if not transition_allowed(old, new):
                    return ServiceAnswer(
                        "07", f"{where}.TrangThaiHoSo: chuyển trạng thái {old} → {new} không hợp lệ"
                    )
        for record in records:
            self.dossiers[record["MaHoSo"]] = ordered_record(copy.deepcopy(record))
        return ServiceAnswer("00", f"Đồng bộ thành công {len(records)} hồ sơ")

    def update_progress(self, items: list[dict[str, Any]]) -> ServiceAnswer:
        """``CapNhatTienDoHoSoMC``."""
        planned: dict[str, str] = {}
        for index, item in enumerate(items):
            code = item["MaHoSo"]
            where = f"data[{index}]"
            if code not in self.dossiers:
                return ServiceAnswer("05", f"{where}.MaHoSo: không tìm thấy hồ sơ {code}")
            current = planned.get(code, self.dossiers[code]["TrangThaiHoSo"])
            if not transition_allowed(current, item["TrangThai"]):
                return ServiceAnswer(
                    "07",
                    f"{where}.TrangThai: chuyển trạng thái {current} → {item['TrangThai']} "
                    "không hợp lệ",
                )
            planned[code] = item["TrangThai"]
        for item in items:
            self.progress.setdefault(item["MaHoSo"], []).append(dict(item))
        for code, status in planned.items():
            self.dossiers[code]["TrangThaiHoSo"] = status
        return ServiceAnswer("00", f"Cập nhật tiến độ thành công {len(items)} bước xử lý")

    def lookup(self, dossier_code: str) -> ServiceAnswer:
        """``TraCuuHoSo``: the dossier in ``result`` (empty list when the portal lacks it)."""
        stored = self.dossiers.get(dossier_code)
        if stored is None:
            return ServiceAnswer("00", f"Không có hồ sơ {dossier_code}", [])
        status = stored["TrangThaiHoSo"]
        return ServiceAnswer(
            "00", f"Hồ sơ {dossier_code}: {STATUS_NAMES[status]}", [copy.deepcopy(stored)]
        )


def sharing(service: str, params: dict[str, Any]) -> ServiceAnswer:
    """The sharing services (catalogue and category lists)."""
    if service == "LayDanhSachTTHC":
        items = catalogue.summaries(params.get("maLinhVuc"), params.get("mucDo"))
        return ServiceAnswer("00", f"Thành công: {len(items)} thủ tục", items)
    if service == "LayThuTuc":
        found = catalogue.procedure(params["maTTHC"])
        if found is None:
            return ServiceAnswer("08", f"maTTHC: không tìm thấy thủ tục {params['maTTHC']}")
        return ServiceAnswer("00", "Thành công", found)
    if service == "LayDanhMucTinhThanh":
        return ServiceAnswer("00", "Thành công", catalogue.provinces())
    if service == "LayDanhMucCoQuan":
        return ServiceAnswer("00", "Thành công", catalogue.agencies())
    if service == "LayDanhMucLePhi":
        return ServiceAnswer("00", "Thành công", catalogue.fees())
    return ServiceAnswer("03", f"service: dịch vụ {service} không tồn tại")
