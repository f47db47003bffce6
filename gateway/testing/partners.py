"""Fake partners and sample partner records for tests.

Rules:
- :class:`FakePartner` stands for a partner adapter behind the worker: it counts each
  dossier it receives (by ``MaHoSo``) and records the exchange in the evidence log with the
  dossier code, as a real adapter does; ``failing`` makes it raise the errors a real
  adapter raises (``down``: transient UpstreamUnavailable; ``contract``: a
  ContractViolation, parked at once).
- :class:`FakePaymentPlatform` stands for the payment platform's client (INIT, QUERY,
  GET_BILL): a transaction's state is whatever the test sets in ``states``; an
  :class:`UpstreamError` set there is raised by QUERY.
- The sample records are valid like the contract's examples; personal data invented.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from adapters.http import NO_CONTEXT, CallContext
from adapters.payment.records import InitResult, PaymentRequest, PaymentState, PaymentStatus
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
from gateway.domain.errors import ContractViolation, UpstreamError, UpstreamUnavailable
from gateway.domain.messages import Envelope
from gateway.domain.status import DossierStatus
from gateway.domain.time_zone import VIETNAM
from gateway.store.evidence import EvidenceEntry, EvidenceLog

VN = VIETNAM
CITIZEN = {"ChuHoSo": "Nguyễn Văn An", "SoGiayToChuHoSo": "001090012345"}


@dataclass
class FakePartner:
    """A partner adapter that counts what it receives (see the module rules)."""

    evidence: EvidenceLog | None = None
    failing: Literal["down", "contract"] | None = None
    received: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, envelope: Envelope) -> dict[str, Any]:
        document = json.loads(envelope.body)
        dossier_code = str(document["MaHoSo"])
        if self.failing == "down":
            raise UpstreamUnavailable("portal", "connection refused (partner down)")
        if self.failing == "contract":
            raise ContractViolation("portal: TrangThaiHoSo refused by the partner")
        with self._lock:
            self.received[dossier_code] += 1
        if self.evidence is not None:
            self.evidence.append(
                EvidenceEntry(
                    direction="out",
                    partner="portal",
                    body=envelope.body,
                    message_id=envelope.message_id,
                    correlation_id=envelope.correlation_id,
                    dossier_code=dossier_code,
                )
            )
        return {"portal": "accepted", "MaHoSo": dossier_code}


@dataclass
class FakePaymentPlatform:
    """The payment platform's client in memory (see the module rules).

    INIT creates ``REF0001``, ``REF0002``, ... pending; QUERY answers the reference's
    state with ``amount`` and the transaction fields below (and lists it in ``asked``).
    """

    states: dict[str, PaymentState | UpstreamError] = field(default_factory=dict)
    amount: int = 75_000
    transaction_id: str = "PG0001"
    bank_code: str = "970415"
    transaction_time: str = "20261127100500"
    inits: list[PaymentRequest] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    def init(self, request: PaymentRequest, context: CallContext = NO_CONTEXT) -> InitResult:
        self.inits.append(request)
        reference = f"REF{len(self.inits):04d}"
        self.states[reference] = PaymentState.PENDING
        return InitResult(reference, f"http://pay.test/checkout/{reference}", "20261127100000")

    def query(self, reference: str, context: CallContext = NO_CONTEXT) -> PaymentStatus:
        self.asked.append(reference)
        state = self.states[reference]
        if isinstance(state, UpstreamError):
            raise state
        return PaymentStatus(
            reference,
            state,
            self.amount,
            "VND",
            self.transaction_id,
            self.bank_code,
            self.transaction_time,
        )

    def get_bill(self, reference: str, context: CallContext = NO_CONTEXT) -> bytes:
        return b"%PDF-1.4 receipt"


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
