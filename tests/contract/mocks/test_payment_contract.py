"""contracts/payment/: valid OpenAPI, valid examples, example checksums really computed."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from mocks._testing import contract_examples, signature
from mocks.framework import contracts_dir, json_validator, load_contract, schema_errors

INIT_ORDER = [
    "LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "SoTien", "LoaiHinhThanhToan",
    "MaKenhThanhToan", "MaThietBi", "NgonNgu", "MaTienTe", "MaNganHang", "ThongTinGiaoDich",
    "ThoiGianGD", "Ip",
]  # fmt: skip
QUERY_ORDER = ["LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD"]


def test_openapi_is_valid() -> None:
    spec, uri = read_from_filename(str(contracts_dir() / "payment" / "openapi.yaml"))
    validate(spec, base_uri=uri)


def test_every_example_validates_including_callbacks() -> None:
    examples = contract_examples("payment/openapi.yaml")
    names = " ".join(name for name, _, _ in examples)
    assert "callbacks" in names and "init" in names and "bill" in names
    for name, pointer, value in examples:
        assert schema_errors(json_validator("payment/openapi.yaml", pointer), value) == [], name


def test_request_examples_carry_real_demo_checksums() -> None:
    for name, _, value in contract_examples("payment/openapi.yaml"):
        if "requestBody" not in name or "callbacks" in name:
            continue
        order = INIT_ORDER if value["LoaiBanTin"] == "INIT" else QUERY_ORDER
        values = [str(value[key]) for key in order]
        expected = signature(values, "demo-payment-secret", "sha256-suffix")
        assert value["MaXacThuc"] == expected, name


@pytest.mark.parametrize(
    ("schema", "field", "value"),
    [
        ("InitRequest", "SoTien", 0),
        ("InitRequest", "SoTien", "50000"),
        ("InitRequest", "MaThamChieu", "000.00.00.H26-1"),
        ("InitRequest", "MaXacThuc", "ABC"),
        ("InitRequest", "LoaiHinhThanhToan", "REFUND"),
        ("InitRequest", "Extra", "x"),
        ("QueryRequest", "ThoiGianGD", "2024-11-20"),
        ("QueryRequest", "LoaiBanTin", "INIT"),
    ],
)
def test_schemas_are_strict(schema: str, field: str, value: object) -> None:
    spec = load_contract("payment/openapi.yaml")
    examples = spec["paths"]["/api/v1/init"]["post"]["requestBody"]["content"]["application/json"]
    good = (
        examples["examples"]["init"]["value"]
        if schema == "InitRequest"
        else spec["paths"]["/api/v1/query"]["post"]["requestBody"]["content"]["application/json"][
            "examples"
        ]["query"]["value"]
    )
    validator = json_validator("payment/openapi.yaml", f"/components/schemas/{schema}")
    assert schema_errors(validator, good) == []
    assert schema_errors(validator, {**good, field: value})


def test_merchant_answer_codes_are_the_documented_ones() -> None:
    spec = load_contract("payment/openapi.yaml")
    codes = spec["components"]["schemas"]["MerchantAnswer"]["properties"]["MaLoi"]["enum"]
    assert sorted(codes) == ["00", "01", "02", "04", "97", "99"]
    for code in codes:
        assert code in spec["info"]["description"]
