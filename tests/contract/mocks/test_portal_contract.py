"""contracts/portal/: every file valid, every example valid, the WSDL usable by zeep."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zeep
from jsonschema import Draft7Validator
from lxml import etree
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from mocks._testing import contract_examples
from mocks.framework import contracts_dir, json_validator, load_xsd, schema_errors, validate_xml

PORTAL = contracts_dir() / "portal"
XROAD = "http://x-road.eu/xsd/xroad.xsd"
HEADERS = {
    "client": {
        "xRoadInstance": "VN",
        "memberClass": "GOV",
        "memberCode": "000.00.00.H26",
        "subsystemCode": "MOTCUA",
        "objectType": "SUBSYSTEM",
    },
    "service": {
        "xRoadInstance": "VN",
        "memberClass": "GOV",
        "memberCode": "000.00.00.G22",
        "subsystemCode": "DVCQG",
        "serviceCode": "TraCuuHoSo",
        "serviceVersion": "v1",
        "objectType": "SERVICE",
    },
    "id": "4f8e2a9c-0d5b-4c1e-9a7f-2b3c4d5e6f70",
    "userId": "canbo01",
    "issue": "000.00.00.H26-241120-0001",
    "protocolVersion": "4.0",
}


def test_openapi_is_valid() -> None:
    spec, uri = read_from_filename(str(PORTAL / "openapi.yaml"))
    validate(spec, base_uri=uri)


@pytest.mark.parametrize("name", ["common", "dossier-record", "progress-record"])
def test_json_schemas_are_valid_draft7(name: str) -> None:
    schema = json.loads((PORTAL / "schemas" / f"{name}.schema.json").read_text("utf-8"))
    Draft7Validator.check_schema(schema)


def test_every_example_validates() -> None:
    examples = contract_examples("portal/openapi.yaml")
    assert len(examples) >= 10
    for name, pointer, value in examples:
        assert schema_errors(json_validator("portal/openapi.yaml", pointer), value) == [], name


def test_examples_catch_bad_records() -> None:
    validator = json_validator("portal/openapi.yaml", "/components/schemas/DongBoHoSoMCRequest")
    (_, _, good) = next(e for e in contract_examples("portal/openapi.yaml") if "sync" in e[0])
    record = good["data"][0]
    for field, value in [
        ("MaHoSo", "000.00.00.H26-241320-0001"),
        ("TrangThaiHoSo", "11"),
        ("NgayTiepNhan", "20241120250000"),
        ("MaTTHC", "1.00123"),
        ("Unexpected", "x"),
    ]:
        bad = {**good, "data": [{**record, field: value}]}
        assert schema_errors(validator, bad), field
    wrong_id = {**record, "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "12345"}]}
    assert schema_errors(validator, {**good, "data": [wrong_id]})


@pytest.mark.parametrize("name", ["portal.xsd", "xroad.xsd", "identifiers.xsd"])
def test_xsds_compile(name: str) -> None:
    assert load_xsd(f"portal/{name}") is not None


def test_wsdl_loads_in_zeep_and_messages_validate() -> None:
    client = zeep.Client(str(PORTAL / "portal.wsdl"))
    operations = set(client.service._binding._operations)
    assert operations == {
        "DongBoHoSoMC",
        "CapNhatTienDoHoSoMC",
        "TraCuuHoSo",
        "LayDanhSachTTHC",
        "LayThuTuc",
        "LayDanhMucTinhThanh",
    }
    envelope = client.create_message(
        client.service,
        "TraCuuHoSo",
        madonvi="000.00.00.H26",
        mahoso="000.00.00.H26-241120-0001",
        _soapheaders=HEADERS,
    )
    body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]
    assert validate_xml(etree.fromstring(etree.tostring(body)), load_xsd("portal/portal.xsd")) == []
    header = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Header")
    block = etree.Element(f"{{{XROAD}}}headerBlock")
    block.extend(list(header))
    assert validate_xml(block, load_xsd("portal/xroad.xsd")) == []


def test_wsdl_documents_the_xroad_header_on_every_operation() -> None:
    text = Path(PORTAL / "portal.wsdl").read_text("utf-8")
    assert text.count('part="protocolVersion"') == 12  # 6 operations, input and output
