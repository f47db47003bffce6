"""Sample portal records for tests, shipped with the adapter (like ``gateway.testing``).

Valid records like the contract's example; personal data invented.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from adapters.portal.records import (
    Channel,
    DossierRecord,
    OwnerIdentifier,
    OwnerIdentifierKind,
    ProgressRecord,
    ReturnMethod,
    SubjectType,
    SubmittedDocument,
)
from gateway.domain.status import DossierStatus

VN = timezone(timedelta(hours=7))


def sample_dossier(**changes: Any) -> DossierRecord:
    base = DossierRecord(
        dossier_code="000.00.00.H26-241120-0001",
        procedure_code="1.001193",
        procedure_name="Thủ tục đăng ký khai sinh",
        field_code="HOTICH",
        field_name="Hộ tịch",
        channel=Channel.COUNTER,
        owner_name="Nguyễn Văn An",
        subject_type=SubjectType.CITIZEN,
        summary="Đăng ký khai sinh cho con",
        received_at=datetime(2024, 11, 20, 8, 30, tzinfo=VN),
        due_at=datetime(2024, 11, 21, 17, 0, tzinfo=VN),
        status=DossierStatus.ACCEPTED,
        return_method=ReturnMethod.IN_PERSON,
        processing_unit="UBND phường Hàng Bạc",
        owner_document_number="001203001234",
        owner_identifiers=(OwnerIdentifier(OwnerIdentifierKind.PERSONAL_ID, "001203001234"),),
        email="an.nguyen@example.vn",
        phone="0912345678",
        submitted_at=datetime(2024, 11, 20, 8, 0, tzinfo=VN),
        documents=(
            SubmittedDocument(
                "TK-0001",
                "Giấy chứng sinh.pdf",
                "TP01",
                "https://motcua.hanoi.gov.vn/f/1.pdf",
                digitised=True,
            ),
        ),
        reused_databases=("1",),
    )
    return replace(base, **changes)


def sample_progress(**changes: Any) -> ProgressRecord:
    base = ProgressRecord(
        dossier_code="000.00.00.H26-241120-0001",
        handler_name="Trần Thị Bình",
        handled_at=datetime(2024, 11, 20, 10, 0, tzinfo=VN),
        department="Bộ phận tư pháp - hộ tịch",
        content="Thụ lý hồ sơ",
        status=DossierStatus.IN_PROCESS,
        started_at=datetime(2024, 11, 20, 8, 30, tzinfo=VN),
        due_at=datetime(2024, 11, 21, 17, 0, tzinfo=VN),
        handler_title="Công chức tư pháp - hộ tịch",
    )
    return replace(base, **changes)
