"""The gateway's records of what it exchanges with the national portal (DVCQG).

English snake_case frozen dataclasses, one per portal record; each field's docstring line
names the portal field it maps to (spelled as the portal spells it), so a reader can go
from one to the other without the translation module.

Rules:
- Records are plain values: they hold what the city sent, and are validated by the
  translation (:mod:`adapters.portal.translate`) before anything is sent, so one place
  names the wrong field. Identifiers are kept as text here for that reason.
- Dates are timezone-aware :class:`datetime` values; the portal's wire form is
  ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh (seconds precision). ``None`` = not applicable.
- Portal flags ("0"/"1", "True"/"False") are ``bool``; portal codes are small enums.
- Optional text is ``""`` when absent (the portal omits it).
- Personal data (owner's name, document numbers, e-mail, phone) is left out of ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum

from gateway.domain.status import DossierStatus


class Channel(IntEnum):
    """KenhThucHien: how the dossier was submitted."""

    COUNTER = 1
    ONLINE = 2
    PUBLIC_POST = 3


class SubjectType(IntEnum):
    """LoaiDoiTuong: who owns the dossier."""

    CITIZEN = 1
    ORGANISATION = 2


class ReturnMethod(IntEnum):
    """HinhThuc: how the result is returned."""

    IN_PERSON = 0
    BY_POST = 1


class OwnerIdentifierKind(IntEnum):
    """LoaiDinhDanh of DinhDanhCHS."""

    PERSONAL_ID = 1  # CCCD, 12 digits
    OLD_ID_CARD = 2  # CMND, 9 or 12 digits
    PASSPORT = 3
    ENTERPRISE_CODE = 4  # enterprise / tax code


class FeeCollection(IntEnum):
    """HinhThucThu of DanhSachLePhi."""

    AT_COUNTER = 1
    ONLINE = 2
    BY_POST = 3


class FeeKind(IntEnum):
    """LoaiPhiLePhi: 1 phí (fee), 2 lệ phí (charge)."""

    FEE = 1
    CHARGE = 2


class SupplementState(IntEnum):
    """TrangThaiBoSung: 0 waiting for the applicant, 1 supplemented."""

    WAITING = 0
    SUPPLEMENTED = 1


class ServiceLevel(StrEnum):
    """MUCDO (Decree 42/2022/NĐ-CP)."""

    FULL = "toàn trình"
    PARTIAL = "một phần"


@dataclass(frozen=True)
class OwnerIdentifier:
    """DinhDanhCHS item: {LoaiDinhDanh, SoDinhDanh}. The number is personal data."""

    kind: OwnerIdentifierKind  # LoaiDinhDanh
    number: str = field(repr=False)  # SoDinhDanh


@dataclass(frozen=True)
class SubmittedDocument:
    """TaiLieuNop item: one file handed in with the dossier."""

    attachment_id: str  # TepDinhKemId
    file_name: str  # TenTepDinhKem
    component_code: str  # MaThanhPhanHoSo
    url: str  # DuongDanTaiTepTin
    deleted: bool = False  # IsDeleted ("True"/"False")
    digitised: bool = False  # DuocSoHoa
    reused: bool = False  # DuocTaiSuDung
    from_national_warehouse: bool = False  # DuocLayTuKhoDMQG
    replacing_result_code: str = ""  # MaKetQuaThayThe


@dataclass(frozen=True)
class Fee:
    """DanhSachLePhi item. ``amount`` is integer VND."""

    name: str  # TenPhiLePhi
    code: str  # MaPhiLePhi
    collection: FeeCollection  # HinhThucThu
    amount: int  # Gia
    kind: FeeKind  # LoaiPhiLePhi


@dataclass(frozen=True)
class SupplementRequest:
    """DanhSachHoSoBoSung item: a request to the applicant for missing papers."""

    supplement_id: str  # HoSoBoSungId
    requested_by: str  # NguoiYeuCauBoSung
    content: str  # NoiDungBoSung
    requested_at: datetime  # NgayBoSung
    state: SupplementState  # TrangThaiBoSung
    previous_due_at: datetime | None = None  # NgayHenTraTruoc
    new_due_at: datetime | None = None  # NgayHenTraMoi
    received_by: str = ""  # NguoiTiepNhanBoSung
    received_at: datetime | None = None  # NgayTiepNhanBoSung


@dataclass(frozen=True)
class ResultDocument:
    """DanhSachGiayToKetQua item: a paper the procedure produced."""

    name: str  # TenGiayTo
    document_id: str  # GiayToId
    url: str  # DuongDanTepTinKetQua
    component_code: str = ""  # MaThanhPhanHoSo
    result_code: str = ""  # MaGiayToKetQua


@dataclass(frozen=True)
class DossierRecord:
    """One dossier (the DongBoHoSoMC data item; also what the portal pushes and answers)."""

    dossier_code: str  # MaHoSo
    procedure_code: str  # MaTTHC
    procedure_name: str  # TenTTHC
    field_code: str  # MaLinhVuc
    field_name: str  # TenLinhVuc
    channel: Channel  # KenhThucHien
    owner_name: str = field(repr=False)  # ChuHoSo
    subject_type: SubjectType  # LoaiDoiTuong
    summary: str  # TrichYeuHoSo
    received_at: datetime  # NgayTiepNhan
    due_at: datetime  # NgayHenTra
    status: DossierStatus  # TrangThaiHoSo
    return_method: ReturnMethod  # HinhThuc
    processing_unit: str  # DonViXuLy
    subject_code: str = ""  # MaDoiTuong
    owner_document_number: str = field(default="", repr=False)  # SoGiayToChuHoSo
    owner_identifiers: tuple[OwnerIdentifier, ...] = ()  # DinhDanhCHS
    email: str = field(default="", repr=False)  # Email
    phone: str = field(default="", repr=False)  # SoDienThoai
    submitted_at: datetime | None = None  # NgayNopHoSo
    returned_at: datetime | None = None  # NgayTra
    refused_at: datetime | None = None  # NgayTuChoi
    processing_finished_at: datetime | None = None  # NgayKetThucXuLy
    submission_place: str = ""  # NoiNopHoSo
    has_digitised_components: bool = False  # HoSoCoThanhPhanSoHoa
    vneid_verified: bool = False  # TaiKhoanDuocXacThucVoiVNeID
    paid_online: bool = False  # DuocThanhToanTrucTuyen
    note: str = ""  # GhiChu
    documents: tuple[SubmittedDocument, ...] = ()  # TaiLieuNop
    fees: tuple[Fee, ...] = ()  # DanhSachLePhi
    supplements: tuple[SupplementRequest, ...] = ()  # DanhSachHoSoBoSung
    results: tuple[ResultDocument, ...] = ()  # DanhSachGiayToKetQua
    reused_databases: tuple[str, ...] = ()  # DSKetNoiCSDL[].MaCSDL


@dataclass(frozen=True)
class ProgressRecord:
    """One processing step (the CapNhatTienDoHoSoMC data item)."""

    dossier_code: str  # MaHoSo
    handler_name: str  # NguoiXuLy
    handled_at: datetime  # ThoiDiemXuLy
    department: str  # PhongBanXuLy
    content: str  # NoiDungXuLy
    status: DossierStatus  # TrangThai (the dossier's status after the step)
    started_at: datetime  # NgayBatDau
    due_at: datetime  # NgayKetThucTheoQuyDinh
    handler_title: str = ""  # ChucDanh


@dataclass(frozen=True)
class ProcedureSummary:
    """One entry of the catalogue (LayDanhSachTTHC)."""

    code: str  # MATTHC (national form)
    name: str  # TENTTHC
    field_code: str  # MALINHVUC
    field_name: str  # TENLINHVUC
    level: ServiceLevel  # MUCDO
    tier: str  # CAPTHUCHIEN ("Cấp Tỉnh", "Cấp Huyện", "Cấp Xã")


@dataclass(frozen=True)
class ProcedureStep:
    number: int  # BUOC
    content: str  # NOIDUNG


@dataclass(frozen=True)
class ProcedureMethod:
    channel: str  # KENH ("Trực tiếp", "Trực tuyến", "Dịch vụ bưu chính")
    description: str  # MOTA


@dataclass(frozen=True)
class ProcedureComponent:
    code: str  # MATHANHPHAN
    name: str  # TENGIAYTO
    originals: int  # SOBANCHINH
    copies: int  # SOBANSAO


@dataclass(frozen=True)
class LegalBasis:
    reference: str  # SOKYHIEU
    summary: str  # TRICHYEU


@dataclass(frozen=True)
class CodeName:
    """A {code, name} pair: LINHVUCTHUCHIEN, KETQUATHUCHIEN, COQUANTHUCHIEN items."""

    code: str
    name: str


@dataclass(frozen=True)
class ProcedureFee:
    code: str  # MAPHILEPHI
    name: str  # TENPHILEPHI
    amount: int  # MUCPHI (VND)
    kind: FeeKind  # LOAIPHILEPHI


@dataclass(frozen=True)
class Procedure:
    """One procedure in full (LayThuTuc)."""

    code: str  # MATTHC
    name: str  # TENTTHC
    level: ServiceLevel  # MUCDO
    tier: str  # CAPTHUCHIEN
    time_limit: str  # THOIHANGIAIQUYET
    fields: tuple[CodeName, ...]  # LINHVUCTHUCHIEN {MALINHVUC, TENLINHVUC}
    steps: tuple[ProcedureStep, ...]  # TRINHTUTHUCHIEN
    methods: tuple[ProcedureMethod, ...]  # CACHTHUCTHUCHIEN
    components: tuple[ProcedureComponent, ...]  # THANHPHANHOSO
    results: tuple[CodeName, ...]  # KETQUATHUCHIEN {MAKETQUA, TENKETQUA}
    legal_bases: tuple[LegalBasis, ...]  # CANCUPHAPLY
    agencies: tuple[CodeName, ...]  # COQUANTHUCHIEN {MACOQUAN, TENCOQUAN}
    fees: tuple[ProcedureFee, ...]  # PHILEPHI
