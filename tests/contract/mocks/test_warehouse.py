"""contracts/warehouse and the warehouse mock: the OpenAPI is valid and its examples
validate; answers validate for every operation and fault mode; bad requests are refused in
the errorCode form; documents belong to citizens of the seeded population; in-process use
through ``responses``."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from mocks.framework import (
    FaultSpec,
    MockRequest,
    MockResponse,
    json_validator,
    register_responses,
    schema_errors,
)
from mocks.population.seed import generate_population
from mocks.settings import MockSettings
from mocks.warehouse.app import WarehouseMock, create_mock
from mocks.warehouse.documents import ResultDocument

CONTRACT = Path(__file__).resolve().parents[3] / "contracts" / "warehouse" / "openapi.yaml"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def mock() -> WarehouseMock:
    return create_mock(MockSettings())


def _validator(name: str) -> Any:
    return json_validator("warehouse/openapi.yaml", f"/components/schemas/{name}")


def _post(
    mock: WarehouseMock, path: str, data: Any, headers: dict[str, str] | None = None
) -> MockResponse:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return mock.handle(MockRequest("POST", path, headers=headers or JSON, body=body))


def _results_request(document: ResultDocument, **changes: Any) -> dict[str, Any]:
    request = {
        "SoDinhDanhChuSoHuu": document.owner_id,
        "HoTenNguoiYeuCau": "Nguyễn Văn An",
        "SoDinhDanhNguoiYeuCau": document.owner_id,
        "KenhThucHien": "2",
        "MaThuTuc": "1.001193",
        "DanhSachDanhMucKetQua": [{"MaKetQua": document.result_code, "SoKyHieu": ""}],
    }
    request.update(changes)
    return request


def _file_request(document: ResultDocument) -> dict[str, Any]:
    return {"CoQuanChuQuan": document.issuer, "DuongDan": document.attachments[0].path}


def _answer_errors(operation: str, response: MockResponse) -> list[str]:
    body = response.json_body()
    ok_schema = "GetKetQuaGiayToResponse" if operation == "/GetKetQuaGiayTo" else "FileBase64"
    if isinstance(body, dict) and body.get("errorCode") != 0:
        return schema_errors(_validator("ErrorResponse"), body)
    return schema_errors(_validator(ok_schema), body)


def test_openapi_is_valid_and_examples_validate() -> None:
    spec, base = read_from_filename(str(CONTRACT))
    validate(spec, base_uri=base)
    for path, request_schema, answer_schemas in (
        (
            "/GetKetQuaGiayTo",
            "GetKetQuaGiayToRequest",
            ("GetKetQuaGiayToResponse", "ErrorResponse"),
        ),
        ("/GetGiayToByUrl", "GetGiayToByUrlRequest", ("FileBase64", "ErrorResponse")),
    ):
        operation = spec["paths"][path]["post"]
        example = operation["requestBody"]["content"]["application/json"]["example"]
        assert schema_errors(_validator(request_schema), example) == []
        for named in operation["responses"]["200"]["content"]["application/json"][
            "examples"
        ].values():
            assert any(
                schema_errors(_validator(name), named["value"]) == [] for name in answer_schemas
            )


def test_owners_are_seeded_citizens(mock: WarehouseMock) -> None:
    population = generate_population()
    assert len(mock.owners) >= 200
    assert all(owner in population.by_id for owner in mock.owners)
    assert {d.result_code for d in mock.documents} >= {"KQ.KHAISINH", "KQ.KETHON"}
    state = mock.handle(MockRequest("GET", "/_mock/state")).json_body()
    assert state["owners"] == len(mock.owners) and len(state["documents"]) == len(mock.documents)


def test_results_found_and_file_fetched(mock: WarehouseMock) -> None:
    document = mock.documents[0]
    answer = _post(mock, "/GetKetQuaGiayTo", _results_request(document))
    assert answer.status == 200 and _answer_errors("/GetKetQuaGiayTo", answer) == []
    found = answer.json_body()["result"]["DanhSachGiayToKetQua"]
    assert document.reference_number in [item["SoKyHieu"] for item in found]
    assert all(item["MaKetQua"] == document.result_code for item in found)
    file_answer = _post(mock, "/GetGiayToByUrl", _file_request(document))
    assert file_answer.status == 200 and _answer_errors("/GetGiayToByUrl", file_answer) == []
    content = base64.b64decode(file_answer.json_body())
    assert content.startswith(b"%PDF-") and content == mock.file_bytes(document.attachments[0].path)


def test_reference_number_filters_and_unknown_owner_is_empty(mock: WarehouseMock) -> None:
    document = mock.documents[0]
    wrong = [{"MaKetQua": document.result_code, "SoKyHieu": "0/0000/XX"}]
    assert _post(
        mock, "/GetKetQuaGiayTo", _results_request(document, DanhSachDanhMucKetQua=wrong)
    ).json_body()["result"] == {"DanhSachGiayToKetQua": []}
    stranger = _results_request(
        document, SoDinhDanhChuSoHuu="001099999999", SoDinhDanhNguoiYeuCau="001099999999"
    )
    answer = _post(mock, "/GetKetQuaGiayTo", stranger)
    assert (
        answer.json_body()["errorCode"] == 0
        and answer.json_body()["result"]["DanhSachGiayToKetQua"] == []
    )


def test_officer_may_read_anyones_results_online_citizen_only_their_own(
    mock: WarehouseMock,
) -> None:
    document = mock.documents[0]
    other = "001099999999"
    refused = _post(
        mock, "/GetKetQuaGiayTo", _results_request(document, SoDinhDanhNguoiYeuCau=other)
    )
    assert (
        refused.json_body()["errorCode"] == 3 and _answer_errors("/GetKetQuaGiayTo", refused) == []
    )
    at_desk = _post(
        mock,
        "/GetKetQuaGiayTo",
        _results_request(document, SoDinhDanhNguoiYeuCau=other, KenhThucHien="1"),
    )
    assert at_desk.json_body()["errorCode"] == 0


@pytest.mark.parametrize(
    "breakage",
    [
        "not_json",
        "wrong_content_type",
        "bad_owner_number",
        "missing_field",
        "extra_field",
        "empty_list",
        "bad_channel",
    ],
)
def test_bad_results_requests_are_refused_with_error_code_1(
    mock: WarehouseMock, breakage: str
) -> None:
    request = _results_request(mock.documents[0])
    headers = JSON
    data: Any = request
    if breakage == "not_json":
        data = b"{not json"
    elif breakage == "wrong_content_type":
        headers = {"content-type": "text/plain"}
    elif breakage == "bad_owner_number":
        request["SoDinhDanhChuSoHuu"] = "12345"
    elif breakage == "missing_field":
        del request["MaThuTuc"]
    elif breakage == "extra_field":
        request["Khac"] = 1
    elif breakage == "empty_list":
        request["DanhSachDanhMucKetQua"] = []
    elif breakage == "bad_channel":
        request["KenhThucHien"] = "9"
    answer = _post(mock, "/GetKetQuaGiayTo", data, headers)
    assert answer.status == 200
    body = answer.json_body()
    assert body["errorCode"] == 1 and body["result"] is None and body["message"]
    assert _answer_errors("/GetKetQuaGiayTo", answer) == []


@pytest.mark.parametrize(
    "change,code",
    [
        ({"DuongDan": "kho/2000/khong-co.pdf"}, 2),
        ({"CoQuanChuQuan": "000.99.99.H26"}, 2),
        ({"CoQuanChuQuan": "H26"}, 1),
        ({"DuongDan": ""}, 1),
        ({"Them": "x"}, 1),
    ],
)
def test_bad_file_requests_are_refused(
    mock: WarehouseMock, change: dict[str, str], code: int
) -> None:
    request = {**_file_request(mock.documents[1]), **change}
    answer = _post(mock, "/GetGiayToByUrl", request)
    assert answer.json_body()["errorCode"] == code
    assert _answer_errors("/GetGiayToByUrl", answer) == []


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"status": 503}, 503, 99),
        ({"error_rate": 1.0}, 500, 99),
        ({"expired_session": True}, 401, 4),
        ({"latency_ms": 5}, 200, 0),
    ],
)
@pytest.mark.parametrize("operation", ["/GetKetQuaGiayTo", "/GetGiayToByUrl"])
def test_answers_validate_under_every_fault_mode(
    mock: WarehouseMock, operation: str, fault: dict[str, Any], status: int, code: int
) -> None:
    document = mock.documents[2]
    request = (
        _results_request(document) if operation == "/GetKetQuaGiayTo" else _file_request(document)
    )
    mock.add_fault(FaultSpec(route=f"POST {operation}", count=1, **fault))
    answer = _post(mock, operation, request)
    assert answer.status == status
    body = answer.json_body()
    assert (body.get("errorCode", 0) if isinstance(body, dict) else 0) == code
    assert _answer_errors(operation, answer) == []


def test_in_process_use_through_responses(mock: WarehouseMock) -> None:
    document = mock.documents[3]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        register_responses(rsps, "http://warehouse.test/warehouse", mock)
        answer = requests.post(
            "http://warehouse.test/warehouse/GetGiayToByUrl",
            json=_file_request(document),
            timeout=5,
        )
    assert answer.status_code == 200
    assert base64.b64decode(answer.json()).startswith(b"%PDF-")
