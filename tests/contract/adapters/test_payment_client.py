"""The payment client, confirm verification and reconciliation against the payment mock.

In-process and over real HTTP: INIT, QUERY, GET_BILL in both MaXacThuc schemes; the
mock's own signed confirm callbacks checked by our verification and our merchant answer
checked by the mock; every fault mode; reconciliation of a lost callback, emitted once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from adapters.http import HttpConfig
from adapters.payment.checksum import Scheme
from adapters.payment.client import PaymentClient, PaymentConfig
from adapters.payment.confirm import merchant_answer, verify_confirmation
from adapters.payment.reconcile import UnfinishedPayment, reconcile
from adapters.payment.records import (
    Fee,
    KnownTransaction,
    MerchantCode,
    PaymentConfirmed,
    PaymentRequest,
    PaymentState,
)
from adapters.payment.wire import PaymentRefused
from gateway.domain.errors import UpstreamMalformed, UpstreamTimeout, UpstreamUnavailable
from gateway.testing.ledgers import InMemoryLedger
from gateway.testing.recorders import ListRecorder
from mocks.framework import FaultSpec
from mocks.payment.app import PaymentMock
from mocks.settings import MockSettings

Site = Callable[[PaymentMock], AbstractContextManager[str]]
SECRET = "demo-payment-secret"


class MerchantEndpoint:
    """The gateway's callback handler, reduced to the adapter's pure functions."""

    def __init__(self, scheme: Scheme) -> None:
        self.scheme = scheme
        self.known: dict[str, KnownTransaction] = {}
        self.verdicts: list[MerchantCode] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        check = verify_confirmation(
            request.content,
            partner_code="HANOI",
            secret=SECRET,
            scheme=self.scheme,
            find=self.known.get,
        )
        self.verdicts.append(check.code)
        if check.accepted and check.transaction is not None:
            self.known[check.transaction.reference] = KnownTransaction(
                check.transaction.reference,
                check.transaction.dossier_code,
                check.transaction.amount,
                True,
            )
        answer = merchant_answer(
            check, partner_code="HANOI", secret=SECRET, scheme=self.scheme, now=datetime.now(UTC)
        )
        return httpx.Response(200, json=answer)


@pytest.fixture(params=["sha256-suffix", "hmac-sha256"])
def scheme(request: pytest.FixtureRequest) -> Scheme:
    value: Scheme = request.param
    return value


@pytest.fixture
def merchant(scheme: Scheme) -> MerchantEndpoint:
    return MerchantEndpoint(scheme)


@pytest.fixture
def mock(scheme: Scheme, merchant: MerchantEndpoint) -> PaymentMock:
    settings = MockSettings(payment_scheme=scheme)
    return PaymentMock(settings, http=httpx.Client(transport=httpx.MockTransport(merchant)))


@pytest.fixture
def site(partner_site: Site, mock: PaymentMock) -> Iterator[str]:
    with partner_site(mock) as base:
        yield base


def make_client(
    base: str, scheme: Scheme, *, secret: str = SECRET, max_answer_bytes: int = 200_000
) -> PaymentClient:
    http = HttpConfig(
        "payment",
        base,
        connect_timeout=1.0,
        read_timeout=1.0,  # under the mock's HANG_SECONDS (1.5), above a slow machine's first call
        allow_plain_http=True,
        max_answer_bytes=max_answer_bytes,
        read_retries=1,
        retry_backoff=0.0,
    )
    return PaymentClient(PaymentConfig(http, "HANOI", secret, scheme), ListRecorder())


def payment_request(
    dossier_code: str = "000.00.00.H26-241120-0001", amount: int = 75_000
) -> PaymentRequest:
    return PaymentRequest(
        dossier_code=dossier_code,
        procedure_code="2.000815.000.00.00.H26",
        procedure_name="Cấp giấy phép xây dựng nhà ở riêng lẻ",
        agency_code="000.00.00.H26",
        agency_name="UBND Thành phố Hà Nội",
        amount=amount,
        fees=(
            Fee("2", "LPXD", "Lệ phí cấp giấy phép xây dựng", amount - 25_000),
            Fee("1", "PTD", "Phí thẩm định", 25_000),
        ),
        description=f"Thanh toan le phi ho so {dossier_code}",
        payment_content="Lệ phí cấp giấy phép xây dựng",
        beneficiary_account="3511000123456",
        beneficiary_bank="970415",
        beneficiary_name="Kho bạc Nhà nước Hà Nội",
        client_ip="10.1.2.3",
        payer_name="Nguyễn Văn An",
        payer_id_number="001203001234",
    )


def test_init_query_pay_and_bill(site: str, mock: PaymentMock, scheme: Scheme) -> None:
    client = make_client(site, scheme)
    created = client.init(payment_request())
    assert created.reference.startswith("0000000H262411200001")
    assert created.checkout_url.endswith(f"/payment/checkout/{created.reference}")
    held = mock.transactions[created.reference]
    assert held["ThongTinBienLai"]["MaDVC"] == "2.000815.000.00.00.H26.01"
    assert held["SoTien"] == 75_000
    assert client.query(created.reference).state == PaymentState.PENDING
    with pytest.raises(PaymentRefused, match="MaLoi 07") as not_paid:
        client.get_bill(created.reference)
    assert not_paid.value.platform_code == "07"
    mock.settle(created.reference, paid=True)
    status = client.query(created.reference)
    assert status.state == PaymentState.PAID and status.amount == 75_000 and status.transaction_id
    assert client.get_bill(created.reference).startswith(b"%PDF-")
    second = client.init(payment_request())
    assert second.reference != created.reference


def test_confirm_callbacks_are_verified_and_answered(
    site: str, mock: PaymentMock, merchant: MerchantEndpoint, scheme: Scheme
) -> None:
    client = make_client(site, scheme)
    created = client.init(payment_request())
    merchant.known[created.reference] = KnownTransaction(
        created.reference, "000.00.00.H26-241120-0001", 75_000, False
    )
    mock.settle(created.reference, paid=True)
    mock.send_callback(created.reference)  # the platform retries: must not be delivered twice
    assert merchant.verdicts == [MerchantCode.ACCEPTED, MerchantCode.ALREADY_CONFIRMED]
    callbacks = mock.transactions[created.reference]["callbacks"]
    assert [c["answer"]["MaLoi"] for c in callbacks] == ["00", "02"]
    assert all(c["answer_checksum_ok"] and c["answer_errors"] == [] for c in callbacks)


def test_confirm_with_a_bad_checksum_or_unknown_reference(
    site: str, mock: PaymentMock, merchant: MerchantEndpoint, scheme: Scheme
) -> None:
    client = make_client(site, scheme)
    created = client.init(payment_request())
    mock.settle(created.reference, paid=True)  # merchant does not know it
    assert merchant.verdicts == [MerchantCode.NOT_FOUND]
    message = mock.confirm_message(created.reference)
    message["SoTien"] = 1
    check = verify_confirmation(
        json.dumps(message).encode(),
        partner_code="HANOI",
        secret=SECRET,
        scheme=scheme,
        find=merchant.known.get,
    )
    assert check.code == MerchantCode.BAD_CHECKSUM


def test_unknown_reference_and_bad_secret_are_refusals(site: str, scheme: Scheme) -> None:
    with pytest.raises(PaymentRefused, match="MaLoi 05") as unknown:
        make_client(site, scheme).query("NOSUCHREFERENCE1")
    assert not unknown.value.transient
    with pytest.raises(PaymentRefused, match=r"MaLoi 01 \(MaXacThuc wrong\)"):
        make_client(site, scheme, secret="wrong-secret").init(payment_request())


FAULTS: list[tuple[FaultSpec, type[Exception], str]] = [
    (FaultSpec(route="POST /api/v1/query", timeout=True), UpstreamTimeout, "no answer within"),
    (FaultSpec(route="POST /api/v1/query", status=502), UpstreamUnavailable, "HTTP 502"),
    (FaultSpec(route="POST /api/v1/query"), UpstreamUnavailable, "HTTP 500"),
    (FaultSpec(route="POST /api/v1/query", malformed=True), UpstreamMalformed, "not JSON"),
    (
        FaultSpec(route="POST /api/v1/query", oversized_bytes=300_000),
        UpstreamMalformed,
        "over the 200000-byte limit",
    ),
]


@pytest.mark.parametrize(
    ("fault", "error", "message"), FAULTS, ids=lambda v: getattr(v, "__name__", None)
)
def test_fault_modes_are_classified(
    site: str,
    mock: PaymentMock,
    scheme: Scheme,
    fault: FaultSpec,
    error: type[Exception],
    message: str,
) -> None:
    client = make_client(site, scheme)
    created = client.init(payment_request())
    mock.add_fault(fault)
    with pytest.raises(error, match=message) as caught:
        client.query(created.reference)
    assert str(caught.value).startswith("payment: QUERY: ")


def test_init_is_never_retried(site: str, mock: PaymentMock, scheme: Scheme) -> None:
    client = make_client(site, scheme)
    mock.add_fault(FaultSpec(route="POST /api/v1/init", status=503, count=1))
    with pytest.raises(UpstreamUnavailable):
        client.init(payment_request())
    assert [r["path"] for r in mock.recorded] == ["/api/v1/init"]


def test_reconciliation_emits_a_lost_callback_once(
    site: str, mock: PaymentMock, scheme: Scheme
) -> None:
    client = make_client(site, scheme)
    ledger = InMemoryLedger()
    now = datetime.now(UTC)
    references = {}
    for number, age in (
        ("0001", timedelta(hours=1)),
        ("0002", timedelta(hours=2)),
        ("0003", timedelta(minutes=5)),
        ("0004", timedelta(hours=1)),
    ):
        code = f"000.00.00.H26-241120-{number}"
        created = client.init(payment_request(code))
        references[number] = created.reference
        ledger.add(UnfinishedPayment(created.reference, code, 75_000, now - age))
    mock.http = httpx.Client(
        transport=httpx.MockTransport(lambda request: httpx.Response(503))
    )  # callbacks lost
    for number in ("0001", "0003"):
        mock.settle(references[number], paid=True)
    mock.settle(references["0004"], paid=False)
    emitted: list[PaymentConfirmed] = []
    report = reconcile(ledger, client, now, emitted.append)
    assert [e.reference for e in emitted] == [references["0001"]]  # 0003 is too young
    assert emitted[0].source == "reconciliation" and emitted[0].dossier_code.endswith("-0001")
    assert report.checked == 3 and report.pending == 1 and report.failed == (references["0004"],)
    assert reconcile(ledger, client, now, emitted.append).checked == 1  # only 0002 still open
    assert len(emitted) == 1
    assert ledger.state(references["0001"]) == "paid"
