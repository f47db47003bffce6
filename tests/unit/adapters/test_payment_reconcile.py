"""Reconciliation with the fake payment platform: the window, exactly-once emission, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters._breaker import CircuitOpen
from adapters.http import NO_CONTEXT, CallContext
from adapters.payment.reconcile import UnfinishedPayment, reconcile
from adapters.payment.records import PaymentConfirmed, PaymentState, PaymentStatus
from gateway.domain.errors import UpstreamError, UpstreamTimeout
from gateway.testing.ledgers import InMemoryLedger
from gateway.testing.partners import FakePaymentPlatform

NOW = datetime(2024, 11, 21, 3, 0, tzinfo=UTC)


def platform_with(
    states: dict[str, PaymentState | UpstreamError], amount: int = 10_000
) -> FakePaymentPlatform:
    return FakePaymentPlatform(
        dict(states), amount, transaction_id="PG1", bank_code="VCB", transaction_time="20241121094500"
    )


def ledger_with(*ages: tuple[str, timedelta]) -> InMemoryLedger:
    ledger = InMemoryLedger()
    for reference, age in ages:
        ledger.add(UnfinishedPayment(reference, "000.00.00.H26-241120-0001", 10_000, NOW - age))
    return ledger


def test_only_the_window_between_30_minutes_and_3_days_is_queried() -> None:
    ledger = ledger_with(
        ("young", timedelta(minutes=29)),
        ("edge", timedelta(minutes=31)),
        ("old", timedelta(days=3, seconds=1)),
        ("mid", timedelta(days=2)),
    )
    platform = platform_with({"edge": PaymentState.PENDING, "mid": PaymentState.PENDING})
    report = reconcile(ledger, platform, NOW, lambda event: None)
    assert sorted(platform.asked) == ["edge", "mid"] and report.pending == 2


def test_a_paid_transaction_is_emitted_once_even_across_runs() -> None:
    ledger = ledger_with(("r1", timedelta(hours=1)))
    emitted: list[PaymentConfirmed] = []
    platform = platform_with({"r1": PaymentState.PAID})
    assert reconcile(ledger, platform, NOW, emitted.append).confirmed == ("r1",)
    assert reconcile(ledger, platform, NOW, emitted.append).checked == 0
    assert len(emitted) == 1
    body = emitted[0].message_body()
    assert emitted[0].source == "reconciliation"
    assert body == {"event": "city.payment.confirmed", "payment": {
        "MaHoSo": "000.00.00.H26-241120-0001", "MaThamChieu": "r1", "SoTien": 10_000, "MaTienTe": "VND",
        "MaGiaoDich": "PG1", "ThoiGianGD": "20241121094500", "MaNganHang": "VCB",
    }}  # fmt: skip


def test_when_the_callback_wins_the_race_nothing_is_emitted() -> None:
    ledger = ledger_with(("r1", timedelta(hours=1)))

    class CallbackWins(FakePaymentPlatform):
        def query(self, reference: str, context: CallContext = NO_CONTEXT) -> PaymentStatus:
            ledger.mark_paid(reference, "callback")  # the confirm arrives meanwhile
            return super().query(reference, context)

    emitted: list[PaymentConfirmed] = []
    report = reconcile(ledger, CallbackWins({"r1": PaymentState.PAID}, amount=10_000), NOW, emitted.append)
    assert emitted == [] and report.already_finished == 1


def test_failed_mismatched_and_erroring_transactions() -> None:
    ledger = ledger_with(
        ("failed", timedelta(hours=1)), ("flaky", timedelta(hours=2)), ("odd", timedelta(hours=3))
    )
    platform = platform_with(
        {
            "failed": PaymentState.FAILED,
            "flaky": UpstreamTimeout("payment", "QUERY: slow"),
            "odd": PaymentState.PAID,
        },
        amount=9_999,
    )
    emitted: list[PaymentConfirmed] = []
    report = reconcile(ledger, platform, NOW, emitted.append)
    assert (
        report.failed == ("failed",)
        and report.mismatched == ("odd",)
        and report.errors == ("flaky: upstream_timeout",)
    )
    assert emitted == [] and ledger.state("failed") == "failed" and ledger.state("odd") == "pending"


def test_an_open_circuit_ends_the_run() -> None:
    ledger = ledger_with(("a", timedelta(hours=1)), ("b", timedelta(hours=2)))
    platform = platform_with({"a": CircuitOpen("payment", "circuit open"), "b": PaymentState.PAID})
    report = reconcile(ledger, platform, NOW, lambda event: None)
    assert report.stopped_early and report.checked == 1 and platform.asked == ["a"]
