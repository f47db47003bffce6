"""Pure translation between the gateway's records and the portal's JSON items."""

from __future__ import annotations

from datetime import datetime

import pytest
from portal_strategies import VN, sample_dossier, sample_progress

from adapters.portal import translate
from adapters.portal.records import Fee, FeeCollection, FeeKind, SubmittedDocument
from gateway.domain.errors import ContractViolation, IdentifierError, IllegalTransition
from gateway.domain.status import DossierStatus


def test_dossier_item_carries_the_portal_names_and_wire_forms() -> None:
    item = translate.dossier_to_portal(sample_dossier())
    assert item["MaHoSo"] == "000.00.00.H26-241120-0001"
    assert item["NgayTiepNhan"] == "20241120083000"
    assert item["TrangThaiHoSo"] == "2"
    assert item["KenhThucHien"] == "1"
    assert item["HinhThuc"] == "0"
    assert item["DinhDanhCHS"] == [{"LoaiDinhDanh": "1", "SoDinhDanh": "001203001234"}]
    assert item["TaiLieuNop"][0]["IsDeleted"] == "False"
    assert item["TaiLieuNop"][0]["DuocSoHoa"] == "1"
    assert item["DSKetNoiCSDL"] == [{"MaCSDL": "1"}]
    assert "NgayTra" not in item  # absent optional dates are omitted
    assert translate.dossier_from_portal(item) == sample_dossier()


def test_dates_are_converted_to_vietnam_time() -> None:
    utc_morning = datetime.fromisoformat("2024-11-20T01:30:00+00:00")
    item = translate.dossier_to_portal(sample_dossier(received_at=utc_morning))
    assert item["NgayTiepNhan"] == "20241120083000"
    back = translate.dossier_from_portal(item)
    assert back.received_at == utc_morning
    assert back.received_at.utcoffset() == VN.utcoffset(None)


def test_naive_datetime_is_refused_naming_the_field() -> None:
    with pytest.raises(ContractViolation) as caught:
        translate.dossier_to_portal(sample_dossier(due_at=datetime(2024, 11, 21, 17, 0)))
    assert caught.value.field == "NgayHenTra"
    assert "data[0].NgayHenTra" in caught.value.detail


@pytest.mark.parametrize(
    ("attribute", "portal_name"),
    [
        ("procedure_name", "TenTTHC"),
        ("owner_name", "ChuHoSo"),
        ("processing_unit", "DonViXuLy"),
        ("summary", "TrichYeuHoSo"),
    ],
)
def test_missing_required_field_is_refused_naming_it(attribute: str, portal_name: str) -> None:
    with pytest.raises(ContractViolation) as caught:
        translate.dossier_to_portal(sample_dossier(**{attribute: "  "}))
    assert caught.value.field == portal_name
    assert portal_name in caught.value.detail


@pytest.mark.parametrize(
    ("changes", "field", "part"),
    [
        ({"dossier_code": "000.00.00.H26-241320-0001"}, "MaHoSo", "month 13"),
        ({"dossier_code": "00.00.00.H26-241120-0001"}, "MaHoSo", "group 1"),
        ({"dossier_code": "000.00.00.H26-241120-01"}, "MaHoSo", "sequence"),
        ({"procedure_code": "1.00123"}, "MaTTHC", "number part"),
        ({"procedure_code": "1.001234.000.00.00.h26"}, "MaTTHC", "local suffix"),
    ],
)
def test_malformed_identifier_is_refused_naming_it(
    changes: dict[str, str], field: str, part: str
) -> None:
    with pytest.raises(IdentifierError) as caught:
        translate.dossier_to_portal(sample_dossier(**changes))
    assert caught.value.field == field
    assert part in caught.value.detail


def test_contract_violation_names_the_nested_path_without_quoting_personal_data() -> None:
    with pytest.raises(ContractViolation) as caught:
        translate.dossier_to_portal(sample_dossier(owner_document_number="00120300123!"))
    assert caught.value.field == "SoGiayToChuHoSo"
    assert "00120300123" not in caught.value.detail
    bad_doc = SubmittedDocument("TK-1", "a.pdf", "TP01", "ftp://files/a.pdf")
    with pytest.raises(ContractViolation) as caught:
        translate.dossier_to_portal(sample_dossier(documents=(bad_doc,)))
    assert caught.value.detail.startswith("data[0].TaiLieuNop[0].DuongDanTaiTepTin")


def test_negative_fee_is_refused() -> None:
    fee = Fee("Lệ phí", "LP01", FeeCollection.ONLINE, -1, FeeKind.CHARGE)
    with pytest.raises(ContractViolation) as caught:
        translate.dossier_to_portal(sample_dossier(fees=(fee,)))
    assert caught.value.field == "Gia"


def test_portal_item_with_wrong_shape_is_refused_naming_the_field() -> None:
    item = translate.dossier_to_portal(sample_dossier())
    item["TrangThaiHoSo"] = "11"
    with pytest.raises(ContractViolation) as caught:
        translate.dossier_from_portal(item, "result[0]")
    assert caught.value.field == "TrangThaiHoSo"
    del item["TrangThaiHoSo"]
    with pytest.raises(ContractViolation, match="TrangThaiHoSo"):
        translate.dossier_from_portal(item)


def test_progress_round_trip_and_checks() -> None:
    item = translate.progress_to_portal(sample_progress())
    assert item == {
        "MaHoSo": "000.00.00.H26-241120-0001",
        "NguoiXuLy": "Trần Thị Bình",
        "ChucDanh": "Công chức tư pháp - hộ tịch",
        "ThoiDiemXuLy": "20241120100000",
        "PhongBanXuLy": "Bộ phận tư pháp - hộ tịch",
        "NoiDungXuLy": "Thụ lý hồ sơ",
        "TrangThai": "4",
        "NgayBatDau": "20241120083000",
        "NgayKetThucTheoQuyDinh": "20241121170000",
    }
    assert translate.progress_from_portal(item) == sample_progress()
    with pytest.raises(ContractViolation) as caught:
        translate.progress_to_portal(sample_progress(content=""))
    assert caught.value.field == "NoiDungXuLy"
    with pytest.raises(IdentifierError):
        translate.progress_to_portal(sample_progress(dossier_code="H26-1"))


def test_transition_check() -> None:
    translate.check_dossier_transition(None, DossierStatus.PROCESSED, "x")  # new on the portal
    translate.check_dossier_transition(DossierStatus.IN_PROCESS, DossierStatus.IN_PROCESS, "x")
    with pytest.raises(IllegalTransition) as caught:
        translate.check_dossier_transition(DossierStatus.ACCEPTED, DossierStatus.PROCESSED, "D-1")
    assert caught.value.field == "TrangThaiHoSo"
    assert "D-1" in caught.value.detail


def test_personal_data_is_not_in_repr() -> None:
    text = repr(sample_dossier())
    assert "Nguyễn Văn An" not in text
    assert "001203001234" not in text
    assert "0912345678" not in text
