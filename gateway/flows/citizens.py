"""Citizen lookup and verification through the National Population Database.

Rules:
- The CCCD is parsed at the edge (province, century, birth year) before any call; a
  CMND is accepted only without a CCCD (the contract's ``oneOf``).
- ``MaYeuCau`` is generated per call (unique); ``MaDVC`` and ``MaCanBo`` come from the
  request, else from configuration.
- Nothing here logs the query or the answer: the adapter hands both to the evidence log
  as personal data (encrypted there), and log lines carry only masked numbers.
- A citizen not found is ``{"found": false}``, not an error.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from adapters.http import CallContext
from adapters.population.port import PopulationDatabase
from adapters.population.records import Address, BirthDate, Citizen, CitizenQuery, Relative
from gateway.domain.citizen_ids import Cccd, Cmnd
from gateway.domain.errors import InvalidInput
from gateway.flows.ports import CallContext as ApiContext


def _address(address: Address | None) -> dict[str, str] | None:
    if address is None:
        return None
    fields = {
        "MaTinhThanh": address.province_code,
        "TenTinhThanh": address.province_name,
        "MaQuanHuyen": address.district_code,
        "TenQuanHuyen": address.district_name,
        "MaPhuongXa": address.ward_code,
        "TenPhuongXa": address.ward_name,
        "ChiTiet": address.detail,
        "QuocGia": address.country,
    }
    return {k: v for k, v in fields.items() if v}


def _relative(relative: Relative | None) -> dict[str, str] | None:
    if relative is None:
        return None
    fields = {
        "HoVaTen": relative.full_name,
        "QuocTich": relative.nationality,
        "SoDinhDanh": relative.id_number,
        "SoCMND": relative.old_id_number,
    }
    return {k: v for k, v in fields.items() if v}


def _birth(birth: BirthDate | None) -> dict[str, str] | None:
    if birth is None:
        return None
    return {"Nam": birth.wire} if birth.year_only else {"NgayThangNam": birth.wire}


def citizen_json(citizen: Citizen) -> dict[str, Any]:
    """A :class:`Citizen` in the contract's ``CongDan`` shape (national field names)."""
    name = {"Ho": citizen.family_name, "ChuDem": citizen.middle_name, "Ten": citizen.given_name}
    document: dict[str, Any] = {
        "SoDinhDanh": citizen.id_number,
        "SoCMND": citizen.old_id_number,
        "HoVaTen": {k: v for k, v in name.items() if v},
        "GioiTinh": citizen.gender,
        "NgayThangNamSinh": _birth(citizen.birth),
        "DanToc": citizen.ethnicity,
        "TonGiao": citizen.religion,
        "QuocTich": citizen.nationality,
        "TinhTrangHonNhan": citizen.marital_status,
        "NhomMau": citizen.blood_group,
        "NoiDangKyKhaiSinh": _address(citizen.birth_registration),
        "QueQuan": _address(citizen.hometown),
        "ThuongTru": _address(citizen.permanent_address),
        "NoiOHienTai": _address(citizen.current_address),
        "Cha": _relative(citizen.father),
        "Me": _relative(citizen.mother),
        "VoChong": _relative(citizen.spouse),
        "NguoiDaiDien": _relative(citizen.representative),
        "SoSoHoKhau": citizen.household_book,
    }
    head = citizen.household_head
    if head is not None:
        document["ChuHo"] = {
            k: v
            for k, v in {
                "QuanHe": head.relation,
                "SoDinhDanh": head.id_number,
                "SoCMND": head.old_id_number,
                "HoVaTen": head.full_name,
            }.items()
            if v
        }
    return {k: v for k, v in document.items() if v not in (None, "", {})}


class CitizenService:
    """The API's ``CitizenPort`` on the population database's port."""

    def __init__(
        self,
        client: PopulationDatabase,
        *,
        service_code: str,
        officer_code: str,
        agency_code: str,
    ) -> None:
        self._client = client
        self._service_code = service_code
        self._officer_code = officer_code
        self._agency_code = agency_code

    def _query(self, body: Mapping[str, Any]) -> CitizenQuery:
        id_number = body.get("SoDinhDanh", "")
        old_id_number = body.get("SoCMND", "")
        if id_number:
            Cccd.parse(id_number)
        elif old_id_number:
            Cmnd.parse(old_id_number)
        service_code = body.get("MaDVC") or self._service_code
        if not service_code:
            raise InvalidInput(
                "MaDVC: required (the request names none and adapters.population.service_code "
                "is not configured)",
                field="MaDVC",
            )
        return CitizenQuery(
            request_id=uuid.uuid4().hex,
            service_code=service_code,
            officer_code=body.get("MaCanBo") or self._officer_code,
            full_name=body["HoVaTen"],
            birth=BirthDate.parse(body["NgayThangNamSinh"]),
            id_number=id_number,
            old_id_number=old_id_number,
            agency_code=body.get("MaDonVi") or self._agency_code,
        )

    def lookup(self, query: Mapping[str, Any], ctx: ApiContext) -> dict[str, Any]:
        citizen = self._client.lookup(self._query(query), CallContext(ctx.correlation_id))
        if citizen is None:
            return {"found": False}
        return {"found": True, "CongDan": citizen_json(citizen)}

    def verify(self, query: Mapping[str, Any], ctx: ApiContext) -> dict[str, Any]:
        result = self._client.verify(self._query(query), CallContext(ctx.correlation_id))
        return {"match": result.exists and result.matches}
