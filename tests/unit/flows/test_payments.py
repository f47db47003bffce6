"""Payment flows: every path that learns of a payment announces it to the city exactly once.

The platform is a fake (the adapter's wire is tested against the mock elsewhere); the
store, ledger, signer and outbox are real (migrated SQLite).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from adapters.payment.checksum import sign
from adapters.payment.records import PaymentState
from gateway.domain.errors import InvalidInput, NotFound
from gateway.flows.payments import (
    Beneficiary,
    ConfirmPayment,
    PaymentFlows,
    confirm_payment,
    payment_request,
)
from gateway.store.payments import SqlPaymentLedger
from gateway.store.repositories import UnitOfWork
from gateway.store.schema import payments as payments_table
from gateway.testing import LocalStack
from gateway.testing.partners import FakePaymentPlatform

SECRET = "demo-payment-secret"
CODE = "000.00.00.H26-261127-0042"


def api_request(**receipt: Any) -> dict[str, Any]:
    return {
        "MaHoSo": CODE, "SoTien": 75000, "ThongTinGiaoDich": "Le phi", "Ip": "10.0.0.1",
        "ThongTinBienLai": {
            "MaTTHC": "1.001612", "TenTTHC": "Cấp phép", "MaDonVi": "000.00.00.H26", "TenDonVi": "UBND",
            "NoiDungThanhToan": "Lệ phí", "HoTenNguoiNop": "Nguyễn Văn A",
            "PhiLePhi": [{"LoaiPhiLePhi": 2, "TenPhiLePhi": "Lệ phí", "SoTien": 75000}], **receipt,
        },
    }  # fmt: skip


def confirm(
    reference: str, *, amount: int = 75000, secret: str = SECRET, code: str = "00"
) -> bytes:
    fields = {
        "LoaiBanTin": "CONFIRM", "MaLoi": code, "MaDoiTac": "HANOI", "MaThamChieu": reference,
        "SoTien": amount, "MaTienTe": "VND", "MaGiaoDich": "PG0001", "MaNganHang": "970415",
        "ThoiGianGD": "20261127100500", "ThongTinGiaoDich": "Le phi",
    }  # fmt: skip
    return json.dumps(sign("CONFIRM", fields, secret, "sha256-suffix")).encode()


@pytest.fixture
def platform() -> FakePaymentPlatform:
    return FakePaymentPlatform()  # INIT makes REF0001, ...; QUERY answers 75000 VND


@pytest.fixture
def flows(
    stack: LocalStack, uow: Callable[[], UnitOfWork], platform: FakePaymentPlatform
) -> PaymentFlows:
    return PaymentFlows(
        platform,  # type: ignore[arg-type]
        SqlPaymentLedger(stack.engine),
        uow,
        stack.signer,
        partner_code="HANOI",
        secret=SECRET,
        scheme="sha256-suffix",
        beneficiary=Beneficiary("3511000123456", "970415", "Kho bạc"),
        reconcile_window=(timedelta(0), timedelta(days=3)),
    )


def confirm_callback(flows: PaymentFlows, body: bytes, correlation_id: str) -> dict[str, Any]:
    """What the API's callback handler does with the platform's confirm."""
    return confirm_payment(ConfirmPayment(body, correlation_id), flows.units_of_work(), flows)


def city_events(stack: LocalStack) -> list[dict[str, Any]]:
    return [
        json.loads(e.body)
        for e in stack.store.pending_outbox(100)
        if e.type == "city.payment.confirmed"
    ]


def test_create_records_the_transaction_and_fills_the_beneficiary(
    flows: PaymentFlows, platform: FakePaymentPlatform
) -> None:
    created = flows.create(api_request(), caller="city", correlation_id="c")
    assert created["MaThamChieu"] == "REF0001" and created["UrlThanhToan"].endswith("/REF0001")
    assert platform.inits[0].beneficiary_account == "3511000123456"
    row = flows.ledger.get("REF0001")
    assert row is not None and row.state == "pending" and row.amount == 75000


def test_beneficiary_missing_everywhere_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput, match=r"ThongTinBienLai\.TKThuHuong: required"):
        payment_request(api_request())


def test_callback_announces_once_and_a_repeat_answers_02(
    flows: PaymentFlows, stack: LocalStack
) -> None:
    flows.create(api_request(), caller="city", correlation_id="c")
    first = confirm_callback(flows, confirm("REF0001"), correlation_id="ipn-1")
    again = confirm_callback(flows, confirm("REF0001"), correlation_id="ipn-2")
    assert (first["MaLoi"], again["MaLoi"]) == ("00", "02")
    events = city_events(stack)
    assert len(events) == 1 and events[0]["payment"]["MaThamChieu"] == "REF0001"
    row = flows.ledger.get("REF0001")
    assert (
        row is not None
        and row.state == "paid"
        and row.paid_via == "callback"
        and row.confirm_message_id
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (lambda: confirm("REF0001", secret="forged"), "97"),
        (lambda: confirm("NOPE0001"), "01"),
        (lambda: confirm("REF0001", amount=1000), "04"),
        (lambda: b"not json", "99"),
    ],
)
def test_refused_callbacks_announce_nothing(
    flows: PaymentFlows, stack: LocalStack, body, code: str
) -> None:  # type: ignore[no-untyped-def]
    flows.create(api_request(), caller="city", correlation_id="c")
    answer = confirm_callback(flows, body(), correlation_id="ipn")
    assert answer["MaLoi"] == code and answer["MaXacThuc"]
    assert city_events(stack) == []
    assert flows.ledger.get("REF0001").state == "pending"  # type: ignore[union-attr]


def test_failed_payment_is_recorded_not_announced(flows: PaymentFlows, stack: LocalStack) -> None:
    flows.create(api_request(), caller="city", correlation_id="c")
    assert (
        confirm_callback(flows, confirm("REF0001", code="24"), correlation_id="ipn")["MaLoi"]
        == "00"
    )
    assert city_events(stack) == [] and flows.ledger.get("REF0001").state == "failed"  # type: ignore[union-attr]


def test_status_query_finding_it_paid_announces_once_then_callback_is_02(
    flows: PaymentFlows, platform: FakePaymentPlatform, stack: LocalStack
) -> None:
    flows.create(api_request(), caller="city", correlation_id="c")
    assert flows.status("REF0001", correlation_id="q")["status"] == "pending"
    platform.states["REF0001"] = PaymentState.PAID
    status = flows.status("REF0001", correlation_id="q")
    assert status == {"MaThamChieu": "REF0001", "TrangThaiGD": 1, "status": "paid", "SoTien": 75000,
                      "MaGiaoDich": "PG0001", "ThoiGianGD": "20261127100500"}  # fmt: skip
    assert confirm_callback(flows, confirm("REF0001"), correlation_id="ipn")["MaLoi"] == "02"
    assert len(city_events(stack)) == 1


def test_reconciliation_recovers_a_lost_callback_once(
    flows: PaymentFlows, platform: FakePaymentPlatform, stack: LocalStack
) -> None:
    flows.create(api_request(), caller="city", correlation_id="c")
    platform.states["REF0001"] = PaymentState.PAID
    assert flows.reconcile().confirmed == ("REF0001",)
    assert flows.reconcile().checked == 0
    assert confirm_callback(flows, confirm("REF0001"), correlation_id="late")["MaLoi"] == "02"
    assert len(city_events(stack)) == 1


def test_a_failure_while_announcing_marks_nothing_and_the_repeat_completes(
    flows: PaymentFlows, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event, its record on the payment and the mark are one unit of work."""
    from gateway.store import payments as payment_rows

    flows.create(api_request(), caller="city", correlation_id="c")
    body = confirm("REF0001")

    def crash(*_: object, **__: object) -> bool:
        raise RuntimeError("the store failed here")

    monkeypatch.setattr(payment_rows, "finish", crash)
    with pytest.raises(RuntimeError):
        confirm_callback(flows, body, "ipn-1")
    monkeypatch.undo()
    assert city_events(stack) == [] and flows.ledger.get("REF0001").state == "pending"  # type: ignore[union-attr]
    assert confirm_callback(flows, body, "ipn-2")["MaLoi"] == "00"
    row = flows.ledger.get("REF0001")
    assert len(city_events(stack)) == 1 and row is not None and row.state == "paid"
    assert row.confirm_message_id is not None


def test_paid_row_left_without_its_event_is_announced_by_reconciliation(
    flows: PaymentFlows, platform: FakePaymentPlatform, stack: LocalStack
) -> None:
    flows.create(api_request(), caller="city", correlation_id="c")
    platform.states["REF0001"] = PaymentState.PAID
    flows.ledger.mark_paid("REF0001", "reconciliation")  # the crash: marked, never emitted
    with stack.engine.begin() as connection:
        connection.execute(
            update(payments_table).values(updated_at=datetime.now(UTC) - timedelta(minutes=5))
        )
    flows.reconcile()
    assert len(city_events(stack)) == 1


def test_unknown_reference_for_status_and_receipt(flows: PaymentFlows) -> None:
    with pytest.raises(NotFound):
        flows.status("NOPE", correlation_id="q")
    with pytest.raises(NotFound):
        flows.receipt("NOPE", correlation_id="q")
