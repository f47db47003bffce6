"""Pure translation: dossier and progress records <-> the portal's JSON data items.

``dossier_to_portal`` / ``progress_to_portal`` build the ``data`` items of DongBoHoSoMC and
CapNhatTienDoHoSoMC; ``dossier_from_portal`` / ``progress_from_portal`` read them back (a
TraCuuHoSo answer, a portal push). The SOAP binding sends the same items (its XSD mirrors
the JSON Schemas), so both bindings share this module.

Rules:
- Nothing is sent that the portal's contract would refuse. In order, before any I/O:
  required fields present (``ContractViolation`` naming the portal field), identifiers
  parsed with :mod:`gateway.domain.identifiers` (``IdentifierError`` naming ``MaHoSo``,
  ``MaTTHC``...), dates aware, then the whole item validated against the contract's JSON
  Schema (``ContractViolation`` naming the path, e.g. ``data[0].TaiLieuNop[0].TenTepDinhKem``).
- Error texts name fields and rules, never the values of personal fields.
- :func:`check_dossier_transition` refuses a status change the one-stop process forbids.
- ``x -> portal -> back`` is lossless for every field the portal carries.
No I/O beyond reading the contract files once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.portal import contract
from adapters.portal import wire as w
from adapters.portal.records import (
    Channel,
    DossierRecord,
    Fee,
    FeeCollection,
    FeeKind,
    OwnerIdentifier,
    OwnerIdentifierKind,
    ProgressRecord,
    ResultDocument,
    ReturnMethod,
    SubjectType,
    SubmittedDocument,
    SupplementRequest,
    SupplementState,
)
from gateway.domain.errors import ContractViolation, IdentifierError
from gateway.domain.identifiers import DossierCode, ProcedureCode
from gateway.domain.status import DossierStatus, check_transition

DOSSIER_REQUIRED = {
    "dossier_code": "MaHoSo",
    "procedure_code": "MaTTHC",
    "procedure_name": "TenTTHC",
    "field_code": "MaLinhVuc",
    "field_name": "TenLinhVuc",
    "owner_name": "ChuHoSo",
    "summary": "TrichYeuHoSo",
    "processing_unit": "DonViXuLy",
}
PROGRESS_REQUIRED = {
    "dossier_code": "MaHoSo",
    "handler_name": "NguoiXuLy",
    "department": "PhongBanXuLy",
    "content": "NoiDungXuLy",
}


def _require(record: object, names: Mapping[str, str], where: str) -> None:
    for attribute, portal_name in names.items():
        value = getattr(record, attribute)
        if not isinstance(value, str) or not value.strip():
            raise ContractViolation(
                f"{where}.{portal_name} ({type(record).__name__}.{attribute}) is required "
                "but missing or empty",
                field=portal_name,
            )


def parse_dossier_code(raw: str, where: str = "MaHoSo") -> DossierCode:
    try:
        return DossierCode.parse(raw)
    except IdentifierError as exc:
        raise IdentifierError(f"{where}: {exc.detail}", field="MaHoSo") from None


def parse_procedure_code(raw: str, where: str = "MaTTHC") -> ProcedureCode:
    try:
        return ProcedureCode.parse(raw)
    except IdentifierError as exc:
        raise IdentifierError(f"{where}: {exc.detail}", field="MaTTHC") from None


def _validate(item: dict[str, Any], schema: str, where: str) -> dict[str, Any]:
    path, why = contract.first_error(contract.validator(schema), item, where)
    if path:
        raise ContractViolation(f"{path}: {why}", field=contract.last_field(path))
    return item


# -- dossier -> portal --------------------------------------------------------------------
def dossier_to_portal(record: DossierRecord, where: str = "data[0]") -> dict[str, Any]:
    """The DongBoHoSoMC data item for ``record``, validated against the contract."""
    _require(record, DOSSIER_REQUIRED, where)
    parse_dossier_code(record.dossier_code, f"{where}.MaHoSo")
    parse_procedure_code(record.procedure_code, f"{where}.MaTTHC")
    if not isinstance(record.status, DossierStatus):
        raise ContractViolation(
            f"{where}.TrangThaiHoSo: must be a DossierStatus", field="TrangThaiHoSo"
        )
    item: dict[str, Any] = {
        "MaHoSo": record.dossier_code,
        "MaTTHC": record.procedure_code,
        "TenTTHC": record.procedure_name,
        "MaLinhVuc": record.field_code,
        "TenLinhVuc": record.field_name,
        "KenhThucHien": w.code(record.channel),
        "ChuHoSo": record.owner_name,
        "LoaiDoiTuong": w.code(record.subject_type),
        "TrichYeuHoSo": record.summary,
        "NgayTiepNhan": w.format_date(record.received_at, f"{where}.NgayTiepNhan"),
        "NgayHenTra": w.format_date(record.due_at, f"{where}.NgayHenTra"),
        "TrangThaiHoSo": w.code(record.status),
        "HinhThuc": w.code(record.return_method),
        "DonViXuLy": record.processing_unit,
    }
    w.put(item, "MaDoiTuong", record.subject_code)
    w.put(item, "SoGiayToChuHoSo", record.owner_document_number)
    if record.owner_identifiers:
        item["DinhDanhCHS"] = [
            {"LoaiDinhDanh": w.code(i.kind), "SoDinhDanh": i.number}
            for i in record.owner_identifiers
        ]
    w.put(item, "Email", record.email)
    w.put(item, "SoDienThoai", record.phone)
    for key, value in (
        ("NgayNopHoSo", record.submitted_at),
        ("NgayTra", record.returned_at),
        ("NgayTuChoi", record.refused_at),
        ("NgayKetThucXuLy", record.processing_finished_at),
    ):
        w.put(item, key, w.format_optional_date(value, f"{where}.{key}"))
    w.put(item, "NoiNopHoSo", record.submission_place)
    item["HoSoCoThanhPhanSoHoa"] = w.flag(record.has_digitised_components)
    item["TaiKhoanDuocXacThucVoiVNeID"] = w.flag(record.vneid_verified)
    item["DuocThanhToanTrucTuyen"] = w.flag(record.paid_online)
    w.put(item, "GhiChu", record.note)
    if record.documents:
        item["TaiLieuNop"] = [_document_out(d) for d in record.documents]
    if record.fees:
        item["DanhSachLePhi"] = [_fee_out(f) for f in record.fees]
    if record.supplements:
        item["DanhSachHoSoBoSung"] = [
            _supplement_out(s, f"{where}.DanhSachHoSoBoSung[{i}]")
            for i, s in enumerate(record.supplements)
        ]
    if record.results:
        item["DanhSachGiayToKetQua"] = [_result_out(r) for r in record.results]
    if record.reused_databases:
        item["DSKetNoiCSDL"] = [{"MaCSDL": code} for code in record.reused_databases]
    return _validate(item, contract.DOSSIER_SCHEMA, where)


def _document_out(document: SubmittedDocument) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TepDinhKemId": document.attachment_id,
        "TenTepDinhKem": document.file_name,
        "IsDeleted": w.bool_text(document.deleted),
        "MaThanhPhanHoSo": document.component_code,
        "DuongDanTaiTepTin": document.url,
        "DuocSoHoa": w.flag(document.digitised),
        "DuocTaiSuDung": w.flag(document.reused),
        "DuocLayTuKhoDMQG": w.flag(document.from_national_warehouse),
    }
    w.put(out, "MaKetQuaThayThe", document.replacing_result_code)
    return out


def _fee_out(fee: Fee) -> dict[str, Any]:
    return {
        "TenPhiLePhi": fee.name,
        "MaPhiLePhi": fee.code,
        "HinhThucThu": w.code(fee.collection),
        "Gia": fee.amount,
        "LoaiPhiLePhi": w.code(fee.kind),
    }


def _supplement_out(supplement: SupplementRequest, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "HoSoBoSungId": supplement.supplement_id,
        "NguoiYeuCauBoSung": supplement.requested_by,
        "NoiDungBoSung": supplement.content,
        "NgayBoSung": w.format_date(supplement.requested_at, f"{where}.NgayBoSung"),
        "TrangThaiBoSung": w.code(supplement.state),
    }
    for key, value in (
        ("NgayHenTraTruoc", supplement.previous_due_at),
        ("NgayHenTraMoi", supplement.new_due_at),
    ):
        w.put(out, key, w.format_optional_date(value, f"{where}.{key}"))
    w.put(out, "NguoiTiepNhanBoSung", supplement.received_by)
    w.put(
        out,
        "NgayTiepNhanBoSung",
        w.format_optional_date(supplement.received_at, f"{where}.NgayTiepNhanBoSung"),
    )
    return out


def _result_out(result: ResultDocument) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TenGiayTo": result.name,
        "GiayToId": result.document_id,
        "DuongDanTepTinKetQua": result.url,
    }
    w.put(out, "MaThanhPhanHoSo", result.component_code)
    w.put(out, "MaGiayToKetQua", result.result_code)
    return out


# -- portal -> dossier --------------------------------------------------------------------
def dossier_from_portal(data: Mapping[str, Any], where: str = "data[0]") -> DossierRecord:
    """Read a portal dossier item (TraCuuHoSo answer, push); refuses what breaks the contract."""
    if not isinstance(data, Mapping):
        raise w.refuse(where, "must be an object")
    _validate(dict(data), contract.DOSSIER_SCHEMA, where)
    t = w.text
    return DossierRecord(
        dossier_code=t(data, "MaHoSo", where),
        procedure_code=t(data, "MaTTHC", where),
        procedure_name=t(data, "TenTTHC", where),
        field_code=t(data, "MaLinhVuc", where),
        field_name=t(data, "TenLinhVuc", where),
        channel=w.read_code(data, "KenhThucHien", Channel, where),
        owner_name=t(data, "ChuHoSo", where),
        subject_type=w.read_code(data, "LoaiDoiTuong", SubjectType, where),
        summary=t(data, "TrichYeuHoSo", where),
        received_at=w.parse_date(data.get("NgayTiepNhan"), f"{where}.NgayTiepNhan"),
        due_at=w.parse_date(data.get("NgayHenTra"), f"{where}.NgayHenTra"),
        status=DossierStatus.parse(data.get("TrangThaiHoSo"), field=f"{where}.TrangThaiHoSo"),
        return_method=w.read_code(data, "HinhThuc", ReturnMethod, where),
        processing_unit=t(data, "DonViXuLy", where),
        subject_code=t(data, "MaDoiTuong", where, required=False),
        owner_document_number=t(data, "SoGiayToChuHoSo", where, required=False),
        owner_identifiers=tuple(
            OwnerIdentifier(
                w.read_code(i, "LoaiDinhDanh", OwnerIdentifierKind, p), t(i, "SoDinhDanh", p)
            )
            for p, i in w.items(data, "DinhDanhCHS", where)
        ),
        email=t(data, "Email", where, required=False),
        phone=t(data, "SoDienThoai", where, required=False),
        submitted_at=w.parse_optional_date(data, "NgayNopHoSo", where),
        returned_at=w.parse_optional_date(data, "NgayTra", where),
        refused_at=w.parse_optional_date(data, "NgayTuChoi", where),
        processing_finished_at=w.parse_optional_date(data, "NgayKetThucXuLy", where),
        submission_place=t(data, "NoiNopHoSo", where, required=False),
        has_digitised_components=w.read_flag(data, "HoSoCoThanhPhanSoHoa", where),
        vneid_verified=w.read_flag(data, "TaiKhoanDuocXacThucVoiVNeID", where),
        paid_online=w.read_flag(data, "DuocThanhToanTrucTuyen", where),
        note=t(data, "GhiChu", where, required=False),
        documents=tuple(_document_in(i, p) for p, i in w.items(data, "TaiLieuNop", where)),
        fees=tuple(_fee_in(i, p) for p, i in w.items(data, "DanhSachLePhi", where)),
        supplements=tuple(
            _supplement_in(i, p) for p, i in w.items(data, "DanhSachHoSoBoSung", where)
        ),
        results=tuple(_result_in(i, p) for p, i in w.items(data, "DanhSachGiayToKetQua", where)),
        reused_databases=tuple(t(i, "MaCSDL", p) for p, i in w.items(data, "DSKetNoiCSDL", where)),
    )


def _document_in(data: Mapping[str, Any], where: str) -> SubmittedDocument:
    return SubmittedDocument(
        attachment_id=w.text(data, "TepDinhKemId", where),
        file_name=w.text(data, "TenTepDinhKem", where),
        component_code=w.text(data, "MaThanhPhanHoSo", where, required=False),
        url=w.text(data, "DuongDanTaiTepTin", where, required=False),
        deleted=w.read_bool_text(data, "IsDeleted", where),
        digitised=w.read_flag(data, "DuocSoHoa", where),
        reused=w.read_flag(data, "DuocTaiSuDung", where),
        from_national_warehouse=w.read_flag(data, "DuocLayTuKhoDMQG", where),
        replacing_result_code=w.text(data, "MaKetQuaThayThe", where, required=False),
    )


def _fee_in(data: Mapping[str, Any], where: str) -> Fee:
    amount = data.get("Gia")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise w.refuse(f"{where}.Gia", "must be an integer amount in VND")
    return Fee(
        name=w.text(data, "TenPhiLePhi", where),
        code=w.text(data, "MaPhiLePhi", where),
        collection=w.read_code(data, "HinhThucThu", FeeCollection, where),
        amount=amount,
        kind=w.read_code(data, "LoaiPhiLePhi", FeeKind, where),
    )


def _supplement_in(data: Mapping[str, Any], where: str) -> SupplementRequest:
    return SupplementRequest(
        supplement_id=w.text(data, "HoSoBoSungId", where),
        requested_by=w.text(data, "NguoiYeuCauBoSung", where),
        content=w.text(data, "NoiDungBoSung", where),
        requested_at=w.parse_date(data.get("NgayBoSung"), f"{where}.NgayBoSung"),
        state=w.read_code(data, "TrangThaiBoSung", SupplementState, where),
        previous_due_at=w.parse_optional_date(data, "NgayHenTraTruoc", where),
        new_due_at=w.parse_optional_date(data, "NgayHenTraMoi", where),
        received_by=w.text(data, "NguoiTiepNhanBoSung", where, required=False),
        received_at=w.parse_optional_date(data, "NgayTiepNhanBoSung", where),
    )


def _result_in(data: Mapping[str, Any], where: str) -> ResultDocument:
    return ResultDocument(
        name=w.text(data, "TenGiayTo", where),
        document_id=w.text(data, "GiayToId", where),
        url=w.text(data, "DuongDanTepTinKetQua", where, required=False),
        component_code=w.text(data, "MaThanhPhanHoSo", where, required=False),
        result_code=w.text(data, "MaGiayToKetQua", where, required=False),
    )


# -- progress -----------------------------------------------------------------------------
def progress_to_portal(record: ProgressRecord, where: str = "data[0]") -> dict[str, Any]:
    """The CapNhatTienDoHoSoMC data item for ``record``, validated against the contract."""
    _require(record, PROGRESS_REQUIRED, where)
    parse_dossier_code(record.dossier_code, f"{where}.MaHoSo")
    if not isinstance(record.status, DossierStatus):
        raise ContractViolation(f"{where}.TrangThai: must be a DossierStatus", field="TrangThai")
    item: dict[str, Any] = {
        "MaHoSo": record.dossier_code,
        "NguoiXuLy": record.handler_name,
        "ThoiDiemXuLy": w.format_date(record.handled_at, f"{where}.ThoiDiemXuLy"),
        "PhongBanXuLy": record.department,
        "NoiDungXuLy": record.content,
        "TrangThai": w.code(record.status),
        "NgayBatDau": w.format_date(record.started_at, f"{where}.NgayBatDau"),
        "NgayKetThucTheoQuyDinh": w.format_date(record.due_at, f"{where}.NgayKetThucTheoQuyDinh"),
    }
    w.put(item, "ChucDanh", record.handler_title)
    return _validate(item, contract.PROGRESS_SCHEMA, where)


def progress_from_portal(data: Mapping[str, Any], where: str = "data[0]") -> ProgressRecord:
    if not isinstance(data, Mapping):
        raise w.refuse(where, "must be an object")
    _validate(dict(data), contract.PROGRESS_SCHEMA, where)
    return ProgressRecord(
        dossier_code=w.text(data, "MaHoSo", where),
        handler_name=w.text(data, "NguoiXuLy", where),
        handled_at=w.parse_date(data.get("ThoiDiemXuLy"), f"{where}.ThoiDiemXuLy"),
        department=w.text(data, "PhongBanXuLy", where),
        content=w.text(data, "NoiDungXuLy", where),
        status=DossierStatus.parse(data.get("TrangThai"), field=f"{where}.TrangThai"),
        started_at=w.parse_date(data.get("NgayBatDau"), f"{where}.NgayBatDau"),
        due_at=w.parse_date(data.get("NgayKetThucTheoQuyDinh"), f"{where}.NgayKetThucTheoQuyDinh"),
        handler_title=w.text(data, "ChucDanh", where, required=False),
    )


# -- status -------------------------------------------------------------------------------
def check_dossier_transition(
    current: DossierStatus | None, new: DossierStatus, dossier_code: str
) -> None:
    """Refuse (``IllegalTransition``) ``current -> new`` unless the process allows it.

    ``current`` None means the portal does not know the dossier yet: any status may be
    its first (a dossier is often synced only once it has moved past 1).
    """
    if current is not None:
        check_transition(current, new, dossier_code=dossier_code)
