"""Payment translation: MaThamChieu, INIT/QUERY messages against the contract (hypothesis),
answers, confirm verification codes and the merchant's answer."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters._contracts import validator
from adapters.payment import checksum, wire
from adapters.payment.confirm import merchant_answer, verify_confirmation
from adapters.payment.records import (
    Fee,
    KnownTransaction,
    MerchantCode,
    PaymentRequest,
    PaymentState,
)
from gateway.domain.errors import InvalidInput, UpstreamMalformed, UpstreamUnavailable
from gateway.domain.time_zone import VIETNAM
from mocks.payment import checksum as platform

AT = datetime(2024, 11, 20, 2, 30, 0, 123456, tzinfo=UTC)  # 09:30:00.123 in Hanoi
agency = st.from_regex(r"\A[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[HG][0-9]{2}\Z")
dossier = st.builds(
    lambda a, d, n: f"{a}-{d:%y%m%d}-{n}",
    agency,
    st.dates(datetime(2000, 1, 1).date(), datetime(2099, 12, 31).date()),
    st.from_regex(r"\A[0-9]{4,5}\Z"),
)
moment = st.datetimes(datetime(2000, 1, 1), datetime(2090, 1, 1), timezones=st.just(UTC))


@given(code=dossier, at=moment)
def test_reference_is_dossier_code_stripped_plus_time(code: str, at: datetime) -> None:
    reference = wire.derive_reference(code, at)
    assert re.fullmatch(r"[A-Za-z0-9]{1,50}", reference)
    stripped = re.sub(r"[^A-Za-z0-9]", "", code)
    local = at.astimezone(VIETNAM)
    assert (
        reference == stripped + local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"
    )


@given(code=dossier, start=moment, steps=st.lists(st.integers(0, 5), min_size=2, max_size=20))
def test_references_are_unique_per_attempt(code: str, start: datetime, steps: list[int]) -> None:
    clock = wire.ReferenceClock()
    now, seen = start, set()
    for step in steps:  # several attempts, even within the same millisecond
        now += timedelta(microseconds=step * 100)
        seen.add(wire.derive_reference(code, clock.next(now)))
    assert len(seen) == len(steps)


def test_reference_refuses_bad_input() -> None:
    with pytest.raises(InvalidInput, match="dossier code"):
        wire.derive_reference("000.00.00.H26-241320-0001", AT)
    with pytest.raises(InvalidInput, match="timezone-aware"):
        wire.derive_reference("000.00.00.H26-241120-0001", datetime(2024, 11, 20))
    assert wire.wire_time(AT) == "20241120093000"


def request(**changes: object) -> PaymentRequest:
    base = PaymentRequest(
        dossier_code="000.00.00.H26-241120-0001", procedure_code="2.000815.000.00.00.H26",
        procedure_name="Cấp giấy phép xây dựng", agency_code="000.00.00.H26", agency_name="UBND Thành phố Hà Nội",
        amount=50_000, fees=(Fee("2", "LPXD", "Lệ phí", 50_000),), description="Thanh toan le phi",
        payment_content="Lệ phí", beneficiary_account="3511000123456", beneficiary_bank="970415",
        beneficiary_name="Kho bạc", client_ip="10.1.2.3", payer_name="Nguyễn Văn An", payer_id_number="001203001234",
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def init(req: PaymentRequest, scheme: checksum.Scheme = "sha256-suffix") -> dict[str, object]:
    return wire.init_message(
        req, partner_code="HANOI", secret="k", scheme=scheme, reference="REF1", sent_at=AT
    )


fees = st.lists(
    st.builds(Fee, st.sampled_from(["1", "2"]), st.from_regex(r"\A[0-9A-Za-z._-]{1,50}\Z"), st.text(min_size=1, max_size=40).filter(str.strip), st.integers(1, 10**9)),
    min_size=1, max_size=20,
)  # fmt: skip


@settings(max_examples=60)
@given(
    lines=fees, code=dossier, scheme=st.sampled_from(checksum.SCHEMES),
    procedure=st.from_regex(r"\A[0-9]\.[0-9]{6}\Z") | st.from_regex(r"\A[0-9]\.[0-9]{6}\.000\.00\.00\.H26\Z"),
    ip=st.ip_addresses(v=4).map(str), payer=st.text(min_size=1, max_size=60).filter(str.strip),
)  # fmt: skip
def test_every_init_built_validates_against_the_contract(
    lines: list[Fee], code: str, scheme: checksum.Scheme, procedure: str, ip: str, payer: str
) -> None:
    req = request(
        fees=tuple(lines),
        amount=sum(f.amount for f in lines),
        dossier_code=code,
        procedure_code=procedure,
        client_ip=ip,
        payer_name=payer,
    )
    try:
        message = init(req, scheme)
    except InvalidInput as refused:  # only the contract's own limits may refuse, naming the field
        assert refused.field and refused.field.startswith("$")
        return
    assert not list(
        validator(wire.CONTRACT, "/components/schemas/InitRequest").iter_errors(message)
    )
    receipt = message["ThongTinBienLai"]
    assert isinstance(receipt, dict) and receipt["MaDVC"] == procedure + ".01"
    assert platform.verify(message, platform.INIT_FIELDS, "k", scheme)


@pytest.mark.parametrize("amount", [0, -5, True, 1.5, "50000"])
def test_amount_must_be_a_positive_integer(amount: object) -> None:
    with pytest.raises(InvalidInput, match="SoTien must be") as refused:
        init(request(amount=amount))
    assert refused.value.field == "SoTien"


def test_fee_lines_must_add_up_and_exist() -> None:
    with pytest.raises(InvalidInput, match="sum of the fee lines"):
        init(request(amount=60_000))
    with pytest.raises(InvalidInput, match="fee line"):
        init(request(fees=()))
    with pytest.raises(InvalidInput, match=r"PhiLePhi\[0\]\.SoTien must be positive"):
        init(request(fees=(Fee("1", "X", "x", 0),)))


def test_a_contract_violation_names_the_field_not_the_value() -> None:
    with pytest.raises(InvalidInput) as refused:
        init(request(client_ip="not an ip"))
    assert "$.Ip" in str(refused.value) and "not an ip" not in str(refused.value)
    with pytest.raises(InvalidInput, match="procedure code"):
        init(request(procedure_code="2.81"))


def test_query_message() -> None:
    message = wire.query_message(
        "GET_BILL", "REF1", partner_code="HANOI", secret="k", scheme="hmac-sha256", sent_at=AT
    )
    assert message["LoaiBanTin"] == "GET_BILL" and message["ThoiGianGD"] == "20241120093000"
    assert platform.verify(message, platform.QUERY_FIELDS, "k", "hmac-sha256")
    with pytest.raises(InvalidInput, match="kind"):
        wire.query_message(
            "REFUND", "R", partner_code="HANOI", secret="k", scheme="hmac-sha256", sent_at=AT
        )


def answer(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_answers_are_parsed_and_classified() -> None:
    paid = answer(
        MaLoi="00",
        MoTaLoi="ok",
        MaDoiTac="HANOI",
        MaThamChieu="R1",
        TrangThaiGD="1",
        SoTien=5,
        MaTienTe="VND",
        MaGiaoDich="PG1",
        MaNganHang="VCB",
        ThoiGianGD="20241120093000",
    )
    assert wire.parse_query_answer(paid, "R1").state == PaymentState.PAID
    with pytest.raises(UpstreamMalformed, match="another MaThamChieu"):
        wire.parse_query_answer(paid, "R2")
    with pytest.raises(
        wire.PaymentRefused,
        match=r"QUERY: refused with MaLoi 05 \(transaction not found\): giao dich 00\*+",
    ) as refused:
        wire.parse_query_answer(answer(MaLoi="05", MoTaLoi="giao dich 0000000H26241120"), "R1")
    assert refused.value.platform_code == "05"
    with pytest.raises(UpstreamUnavailable, match="MaLoi 99"):
        wire.parse_init_answer(answer(MaLoi="99", MoTaLoi="x"), "R1", "t")
    with pytest.raises(UpstreamMalformed, match=r"breaks the contract: \$\.TrangThaiGD"):
        wire.parse_query_answer(paid.replace(b'"TrangThaiGD": "1"', b'"TrangThaiGD": "2"'), "R1")
    with pytest.raises(UpstreamMalformed, match="not a JSON object"):
        wire.parse_init_answer(b"[]", "R1", "t")
    with pytest.raises(UpstreamMalformed, match="not a PDF"):
        wire.parse_bill_answer(200, "application/pdf", b"<html>")


# -- confirm callbacks ------------------------------------------------------------------

KNOWN = KnownTransaction("REF1", "000.00.00.H26-241120-0001", 50_000, confirmed=False)


def confirm(scheme: checksum.Scheme = "sha256-suffix", **changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "LoaiBanTin": "CONFIRM", "MaLoi": "00", "MaDoiTac": "HANOI", "MaThamChieu": "REF1", "SoTien": 50_000,
        "MaTienTe": "VND", "MaGiaoDich": "PG1", "MaNganHang": "VCB", "ThoiGianGD": "20241120093512",
        "ThongTinGiaoDich": "Thanh toan",
    }  # fmt: skip
    fields.update(changes)
    fields["MaXacThuc"] = platform.compute(fields, platform.CONFIRM_FIELDS, "k", scheme)
    return fields


def check(
    body: object, known: KnownTransaction | None = KNOWN, scheme: checksum.Scheme = "sha256-suffix"
) -> MerchantCode:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return verify_confirmation(
        raw,
        partner_code="HANOI",
        secret="k",
        scheme=scheme,
        find=lambda ref: known if known and known.reference == ref else None,
    ).code


@pytest.mark.parametrize("scheme", checksum.SCHEMES)
def test_confirm_verdicts(scheme: checksum.Scheme) -> None:
    assert check(confirm(scheme), scheme=scheme) == MerchantCode.ACCEPTED
    assert (
        check(confirm(scheme, MaLoi="24"), scheme=scheme) == MerchantCode.ACCEPTED
    )  # a failed payment, recorded
    assert check({**confirm(scheme), "SoTien": 1}, scheme=scheme) == MerchantCode.BAD_CHECKSUM
    assert (
        check(
            confirm(scheme), scheme="hmac-sha256" if scheme == "sha256-suffix" else "sha256-suffix"
        )
        == MerchantCode.BAD_CHECKSUM
    )
    assert check(confirm(scheme, MaThamChieu="OTHER"), scheme=scheme) == MerchantCode.NOT_FOUND
    assert check(confirm(scheme, SoTien=49_999), scheme=scheme) == MerchantCode.WRONG_AMOUNT
    assert (
        check(confirm(scheme), known=replace(KNOWN, confirmed=True), scheme=scheme)
        == MerchantCode.ALREADY_CONFIRMED
    )
    assert check(confirm(scheme, MaDoiTac="HCM"), scheme=scheme) == MerchantCode.OTHER
    assert check(b"not json", scheme=scheme) == MerchantCode.OTHER
    assert check({"LoaiBanTin": "CONFIRM"}, scheme=scheme) == MerchantCode.OTHER


@given(
    code=st.sampled_from(list(MerchantCode)),
    scheme=st.sampled_from(checksum.SCHEMES),
    reference=st.from_regex(r"\A[A-Za-z0-9]{0,50}\Z"),
)
def test_merchant_answer_validates_and_verifies(
    code: MerchantCode, scheme: checksum.Scheme, reference: str
) -> None:
    from adapters.payment.records import ConfirmationCheck

    body = merchant_answer(
        ConfirmationCheck(code, "why", reference=reference),
        partner_code="HANOI",
        secret="k",
        scheme=scheme,
        now=AT,
    )
    assert not list(
        validator(wire.CONTRACT, "/components/schemas/MerchantAnswer").iter_errors(body)
    )
    assert platform.verify(body, platform.MERCHANT_ANSWER_FIELDS, "k", scheme)
    assert body["MaLoi"] == code.value and body["ThoiGianGD"] == "20241120093000"


def test_merchant_answer_echoes_the_confirms_reference_and_time() -> None:
    raw = json.dumps(confirm()).encode()
    verdict = verify_confirmation(
        raw, partner_code="HANOI", secret="k", scheme="sha256-suffix", find=lambda ref: KNOWN
    )
    body = merchant_answer(
        verdict,
        partner_code="HANOI",
        secret="k",
        scheme="sha256-suffix",
        now=datetime.now(UTC),
    )
    assert (body["MaLoi"], body["MaThamChieu"], body["ThoiGianGD"]) == (
        "00",
        "REF1",
        "20241120093512",
    )
    assert verdict.confirmation is not None and verdict.confirmation.paid
