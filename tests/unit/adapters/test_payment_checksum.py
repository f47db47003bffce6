"""MaXacThuc: reference field orders, both schemes, round trips and tampering (hypothesis)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.payment import checksum
from mocks.payment import checksum as platform  # written independently, from the reference

KINDS = {
    "INIT": platform.INIT_FIELDS,
    "CONFIRM": platform.CONFIRM_FIELDS,
    "QUERY": platform.QUERY_FIELDS,
    "GET_BILL": platform.QUERY_FIELDS,
    "MERCHANT_ANSWER": platform.MERCHANT_ANSWER_FIELDS,
}
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
value = st.one_of(text, st.integers(min_value=1, max_value=10**11))
scheme = st.sampled_from(checksum.SCHEMES)


def test_field_orders_are_the_references() -> None:
    assert checksum.FIELD_ORDERS["INIT"] == (
        "LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "SoTien", "LoaiHinhThanhToan", "MaKenhThanhToan",
        "MaThietBi", "NgonNgu", "MaTienTe", "MaNganHang", "ThongTinGiaoDich", "ThoiGianGD", "Ip",
    )  # fmt: skip
    assert checksum.FIELD_ORDERS["CONFIRM"] == (
        "LoaiBanTin", "MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", "MaTienTe", "MaGiaoDich", "MaNganHang",
        "ThoiGianGD", "ThongTinGiaoDich",
    )  # fmt: skip
    assert checksum.FIELD_ORDERS["QUERY"] == checksum.FIELD_ORDERS["GET_BILL"] == (
        "LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD",
    )  # fmt: skip
    assert checksum.FIELD_ORDERS["MERCHANT_ANSWER"] == (
        "MaLoi",
        "MaDoiTac",
        "MaThamChieu",
        "ThoiGianGD",
    )


def test_known_vectors_of_both_schemes() -> None:
    fields = {
        "LoaiBanTin": "QUERY",
        "PhienBan": "1.0.6",
        "MaDoiTac": "HANOI",
        "MaThamChieu": "ABC1",
        "ThoiGianGD": "20241120100000",
    }
    joined = "QUERY|1.0.6|HANOI|ABC1|20241120100000"
    assert (
        checksum.compute("QUERY", fields, "s3cret", "sha256-suffix")
        == hashlib.sha256(f"{joined}|s3cret".encode()).hexdigest()
    )
    assert (
        checksum.compute("QUERY", fields, "s3cret", "hmac-sha256")
        == hmac.new(b"s3cret", joined.encode(), hashlib.sha256).hexdigest()
    )


@given(
    kind=st.sampled_from(sorted(KINDS)),
    values=st.lists(value, min_size=14, max_size=14),
    secret=text,
    chosen=scheme,
)
def test_round_trip_and_agreement_with_the_platform(
    kind: str, values: list[object], secret: str, chosen: checksum.Scheme
) -> None:
    fields = dict(zip(checksum.FIELD_ORDERS[kind], values, strict=False))
    signed = checksum.sign(kind, fields, secret, chosen)
    digest = signed["MaXacThuc"]
    assert isinstance(digest, str) and len(digest) == 64 and digest == digest.lower()
    assert checksum.verify(kind, signed, secret, chosen)
    assert digest == platform.compute(fields, KINDS[kind], secret, chosen)


@given(
    kind=st.sampled_from(sorted(KINDS)),
    values=st.lists(text, min_size=14, max_size=14),
    secret=text,
    chosen=scheme,
    data=st.data(),
)
def test_any_changed_field_or_secret_fails(
    kind: str, values: list[str], secret: str, chosen: checksum.Scheme, data: st.DataObject
) -> None:
    order = checksum.FIELD_ORDERS[kind]
    signed = checksum.sign(kind, dict(zip(order, values, strict=False)), secret, chosen)
    name = data.draw(st.sampled_from(order))
    changed = data.draw(text.filter(lambda new: new != signed[name]))
    assert not checksum.verify(kind, {**signed, name: changed}, secret, chosen)
    other_secret = data.draw(text.filter(lambda new: new != secret))
    assert not checksum.verify(kind, signed, other_secret, chosen)


def test_the_two_schemes_differ_and_garbage_never_verifies() -> None:
    fields = {
        "MaLoi": "00",
        "MaDoiTac": "HANOI",
        "MaThamChieu": "A1",
        "ThoiGianGD": "20241120100000",
    }
    assert checksum.compute("MERCHANT_ANSWER", fields, "k", "sha256-suffix") != checksum.compute(
        "MERCHANT_ANSWER", fields, "k", "hmac-sha256"
    )
    for given_value in (None, 12, "", "zz", "é" * 64):
        assert not checksum.verify(
            "MERCHANT_ANSWER", {**fields, "MaXacThuc": given_value}, "k", "sha256-suffix"
        )


def test_unknown_kind_scheme_and_boolean_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown message kind"):
        checksum.compute("REFUND", {}, "k", "sha256-suffix")
    with pytest.raises(ValueError, match="unknown scheme"):
        checksum.compute("QUERY", {}, "k", "md5")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="boolean"):
        checksum.compute("QUERY", {"LoaiBanTin": True}, "k", "sha256-suffix")
