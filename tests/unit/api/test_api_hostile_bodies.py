"""Issue 12, "edges that never answer 500": hostile JSON bodies, partner "not found",
nonces spent only once a body is valid.

Two apps: the shared one over fakes (``conftest``), to show every JSON operation refuses
the same hostile bodies before its port is called; and the wired gateway on the demo
configuration (real flows, store and adapters; no partner is called), where the 500s of
the issue were reproduced: a deep ``[[[…]]]`` (RecursionError) and a ``"\\ud800"``
(UnicodeEncodeError) on ``POST /v1/callbacks/payments``, the same surrogate on
``POST /v1/dossiers``, and an integer of 5,000 digits (ValueError) on both.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_fakes import (
    CITY_KEY,
    OPS_KEY,
    FakeBackend,
    api_key_operations,
    concrete_path,
    operations,
    request_example,
)
from conftest import PORTAL_SECRET
from starlette.testclient import TestClient

from adapters.payment.checksum import sign
from adapters.warehouse import wire
from gateway.api.app import create_app
from gateway.api.json_guard import MAX_DEPTH, nesting_depth, parse_guarded
from gateway.bootstrap import Gateway, build
from gateway.config import load_settings
from gateway.demo import _spec_examples
from gateway.domain.errors import UpstreamMalformed, UpstreamUnavailable
from gateway.flows.portal_push import portal_signature
from gateway.store.payments import SqlPaymentLedger

REPO = Path(__file__).resolve().parents[3]
JSON = {"Content-Type": "application/json"}
PAYMENT_SECRET = "demo-payment-secret"
CALLBACK = "/v1/callbacks/payments"
PUSH = "/v1/callbacks/portal/dossiers"
DEEP = b"[" * 200_000 + b"]" * 200_000  # 400 KB: the wired gateway's limit is 1 MiB

# (what, body text with @@ where a field's value goes, the field error's message start)
HOSTILE_VALUES = [
    ("lone surrogate", '"\\ud800"', "contains a lone surrogate"),
    ("low surrogate", '"ab\\udc00"', "contains a lone surrogate"),
    ("NUL", '"a\\u0000b"', "contains a control character"),
    ("escape char", '"\\u001b[31m"', "contains a control character"),
    ("5000-digit integer", "1" + "0" * 5000, "is an integer outside the 64-bit range"),
    ("2**64", str(2**64), "is an integer outside the 64-bit range"),
    ("1e999", "1e999", "is a number too large to represent"),
    ("NaN", "NaN", "is NaN"),
    ("-Infinity", "-Infinity", "is -Infinity"),
]


def _with(body: dict[str, Any], field: str, raw_value: str) -> bytes:
    text = json.dumps({**body, field: "@@"}, ensure_ascii=False)
    return text.replace('"@@"', raw_value).encode()


# ---- the guard itself (pure) -------------------------------------------------------------


def test_depth_is_measured_before_parsing_and_strings_do_not_count() -> None:
    assert nesting_depth(b"[" * 64 + b"]" * 64) == 64
    assert nesting_depth(b"[" * 65 + b"]" * 65) == 65
    assert nesting_depth(b'["' + b"[" * 10_000 + b'"]') == 1
    assert nesting_depth(b'["\\"' + b"{" * 100 + b'"]') == 1
    assert nesting_depth(DEEP) == MAX_DEPTH + 1  # counting stops past the limit
    assert parse_guarded(b"[" * 64 + b"]" * 64) is not None


def test_a_bad_property_name_is_reported_at_its_parent() -> None:
    with pytest.raises(ValueError) as info:
        parse_guarded(b'{"a": {"\\ud800": 1, "ok": "\\u0007"}}')
    errors = [(e.field, e.message) for e in info.value.errors]  # type: ignore[attr-defined]
    assert (
        "body.a",
        "has a property name that contains a lone surrogate (not valid Unicode text)",
    ) in errors
    assert ("body.a.ok", "contains a control character") in errors


def test_tab_newline_and_ordinary_text_pass() -> None:
    assert parse_guarded('{"a": "Nguyễn\\tVăn\\nA\\r", "n": -9223372036854775808}'.encode()) == {
        "a": "Nguyễn\tVăn\nA\r",
        "n": -(2**63),
    }


# ---- every JSON operation of the contract, over fakes ------------------------------------

JSON_OPERATIONS = [
    (method, path, operation)
    for path, method, operation in api_key_operations()
    if "application/json" in operation.get("requestBody", {}).get("content", {})
]


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    JSON_OPERATIONS,
    ids=[operation["operationId"].rsplit(".", 1)[-1] for _, _, operation in JSON_OPERATIONS],
)
def test_every_json_operation_refuses_hostile_bodies_before_its_port(
    client: TestClient, backend: FakeBackend, method: str, path: str, operation: dict[str, Any]
) -> None:
    key = OPS_KEY if path.startswith("/v1/admin/") else CITY_KEY
    url = concrete_path(path, operation)
    example = request_example(operation)
    field = next(name for name, value in example.items() if isinstance(value, str))
    bodies = [("deep", DEEP[:60_000], "body", "nests arrays or objects deeper than 64 levels")]
    bodies += [
        (what, _with(example, field, raw), f"body.{field}", why)
        for what, raw, why in HOSTILE_VALUES
    ]
    for what, body, where, why in bodies:
        response = client.request(method, url, content=body, headers=JSON | {"X-API-Key": key})
        assert response.status_code == 400, (what, response.text)
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["code"] == "invalid_input"
        assert any(
            e["field"] == where and e["message"].startswith(why) for e in problem["errors"]
        ), (
            what,
            problem,
        )
    assert backend.calls == []


# ---- the wired gateway (demo configuration) ----------------------------------------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    var = tmp_path_factory.mktemp("hostile")
    environ = {"TTHC_VAR_DIR": str(var), "TTHC_KEYS__DIRECTORY": str(var / "keys")}
    built = build(load_settings(REPO / "config", environ=environ))
    yield built
    built.close()


@pytest.fixture(scope="module")
def wired(gateway: Gateway) -> TestClient:
    return TestClient(
        create_app(gateway.api_services(), validate_responses=True), raise_server_exceptions=False
    )


def confirm_fields(reference: str, amount: int = 75000) -> dict[str, Any]:
    return {
        "LoaiBanTin": "CONFIRM", "MaLoi": "00", "MaDoiTac": "HANOI", "MaThamChieu": reference,
        "SoTien": amount, "MaTienTe": "VND", "MaGiaoDich": "PG0001", "MaNganHang": "970415",
        "ThoiGianGD": "20261127100500", "ThongTinGiaoDich": "Le phi",
    }  # fmt: skip


def signed_confirm(reference: str, **changes: Any) -> dict[str, Any]:
    return sign("CONFIRM", confirm_fields(reference) | changes, PAYMENT_SECRET, "sha256-suffix")


def assert_problem(response: Any, status: int, field: str, why: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert any(e["field"] == field and e["message"].startswith(why) for e in errors), errors


def test_deep_payment_callback_is_400_not_recursion_error(wired: TestClient) -> None:
    response = wired.post(CALLBACK, content=DEEP, headers=JSON)
    assert_problem(response, 400, "body", "nests arrays or objects deeper than 64 levels")


def test_lone_surrogate_in_payment_callback_is_400_not_unicode_error(wired: TestClient) -> None:
    body = json.dumps(signed_confirm("REF0001")).replace('"HANOI"', '"\\ud800"')
    response = wired.post(CALLBACK, content=body.encode(), headers=JSON)
    assert_problem(response, 400, "body.MaDoiTac", "contains a lone surrogate")


def test_huge_integer_in_payment_callback_is_400(wired: TestClient) -> None:
    body = json.dumps(signed_confirm("REF0001")).replace("75000", "7" * 5000)
    response = wired.post(CALLBACK, content=body.encode(), headers=JSON)
    assert_problem(response, 400, "body.SoTien", "is an integer outside the 64-bit range")


def dossier_record(code: str = "000.00.00.H26-261127-00077") -> dict[str, Any]:
    record = dict(_spec_examples()["dossier"])
    record.update(MaHoSo=code, TrangThaiHoSo="2")
    return record


@pytest.mark.parametrize(("what", "raw", "why"), HOSTILE_VALUES, ids=[h[0] for h in HOSTILE_VALUES])
def test_hostile_values_in_dossier_sync_are_400(
    wired: TestClient, what: str, raw: str, why: str
) -> None:
    body = _with(dossier_record(), "TenTTHC", raw)
    response = wired.post("/v1/dossiers", content=body, headers=JSON | {"X-API-Key": CITY_KEY})
    assert_problem(response, 400, "body.TenTTHC", why)


def test_a_honest_dossier_sync_still_passes(wired: TestClient) -> None:
    body = json.dumps(dossier_record("000.00.00.H26-261127-00078"), ensure_ascii=False).encode()
    response = wired.post("/v1/dossiers", content=body, headers=JSON | {"X-API-Key": CITY_KEY})
    assert response.status_code == 202, response.text


# ---- a partner's "not found" is the caller's 404 -----------------------------------------


def test_warehouse_error_code_2_is_not_found() -> None:
    answer = b'{"errorCode": 2, "message": "no such file", "signature": "", "result": null}'
    with pytest.raises(wire.WarehouseNotFound) as info:
        wire.parse_fetch_answer(answer, max_file_bytes=100)
    assert info.value.status == 404 and info.value.partner == "warehouse"
    assert isinstance(info.value, wire.WarehouseRefused)


def test_a_deep_warehouse_answer_is_malformed_not_a_recursion_error() -> None:
    with pytest.raises(UpstreamMalformed):
        wire.parse_find_answer(DEEP)


def test_document_not_found_in_the_warehouse_is_a_404_problem(
    client: TestClient, backend: FakeBackend
) -> None:
    backend.errors["documents.fetch"] = wire.WarehouseNotFound(wire.FETCH, 2, "no such file")
    operation = next(op for p, _, op in api_key_operations() if p == "/v1/documents/fetch")
    response = client.post(
        "/v1/documents/fetch", json=request_example(operation), headers={"X-API-Key": CITY_KEY}
    )
    assert response.status_code == 404, response.text
    problem = response.json()
    assert problem["code"] == "not_found" and problem["partner"] == "warehouse"


# ---- nonces and idempotency are spent only once the body is valid ------------------------


def portal_headers(body: bytes, nonce: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    return JSON | {
        "X-Portal-Timestamp": stamp,
        "X-Portal-Nonce": nonce,
        "X-Portal-Signature": portal_signature(PORTAL_SECRET, stamp, nonce, body),
    }


def pushed_body() -> bytes:
    operation = next(op for p, _, op in operations() if p == PUSH)
    return json.dumps(request_example(operation), ensure_ascii=False).encode()


def test_portal_push_retry_after_an_invalid_body_is_not_a_replay(
    client: TestClient, backend: FakeBackend
) -> None:
    nonce = uuid.uuid4().hex
    invalid = b'{"MaHoSo": "\\ud800"}'
    assert (
        client.post(PUSH, content=invalid, headers=portal_headers(invalid, nonce)).status_code
        == 400
    )
    unknown_field = json.dumps(json.loads(pushed_body()) | {"Nope": 1}).encode()
    assert (
        client.post(
            PUSH, content=unknown_field, headers=portal_headers(unknown_field, nonce)
        ).status_code
        == 400
    )
    body = pushed_body()
    retry = client.post(PUSH, content=body, headers=portal_headers(body, nonce))
    assert retry.status_code == 202, retry.text
    replay = client.post(PUSH, content=body, headers=portal_headers(body, nonce))
    assert replay.status_code == 401 and "Nonce" in replay.json()["detail"]
    assert len(backend.calls) == 1


def test_portal_push_retry_after_a_5xx_is_not_a_replay(
    client: TestClient, backend: FakeBackend
) -> None:
    body, nonce = pushed_body(), uuid.uuid4().hex
    backend.errors["uow.commit"] = UpstreamUnavailable("city", "down")
    failed = client.post(PUSH, content=body, headers=portal_headers(body, nonce))
    assert failed.status_code == 503, failed.text
    del backend.errors["uow.commit"]
    retry = client.post(PUSH, content=body, headers=portal_headers(body, nonce))
    assert retry.status_code == 202, retry.text
    assert client.post(PUSH, content=body, headers=portal_headers(body, nonce)).status_code == 401


def _pending_payment(gateway: Gateway, reference: str) -> None:
    SqlPaymentLedger(gateway.engine).record_init(
        reference=reference,
        dossier_code="000.00.00.H26-261127-0042",
        procedure_code="1.001612",
        amount=75000,
        payment_url=f"http://pay.test/checkout/{reference}",
        caller="city-dossier-system",
    )


def test_payment_confirm_after_an_invalid_body_is_accepted_not_already_confirmed(
    wired: TestClient, gateway: Gateway
) -> None:
    _pending_payment(gateway, "REFRETRY1")
    bad = json.dumps(signed_confirm("REFRETRY1")).replace('"VND"', '"\\ud800"')
    assert wired.post(CALLBACK, content=bad.encode(), headers=JSON).status_code == 400
    missing = {k: v for k, v in signed_confirm("REFRETRY1").items() if k != "MaGiaoDich"}
    assert wired.post(CALLBACK, json=missing).status_code == 400
    first = wired.post(CALLBACK, json=signed_confirm("REFRETRY1"))
    assert first.status_code == 200 and first.json()["MaLoi"] == "00", first.text
    again = wired.post(CALLBACK, json=signed_confirm("REFRETRY1"))
    assert again.json()["MaLoi"] == "02"


def test_payment_confirm_retry_after_a_5xx_is_accepted_not_already_confirmed(
    wired: TestClient, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.store import messages

    _pending_payment(gateway, "REFRETRY2")
    real = messages.insert_accepted

    def failing(*args: Any, **kwargs: Any) -> int:
        raise UpstreamUnavailable("city", "simulated failure while announcing")

    monkeypatch.setattr(messages, "insert_accepted", failing)
    failed = wired.post(CALLBACK, json=signed_confirm("REFRETRY2"))
    assert failed.status_code >= 500, failed.text
    monkeypatch.setattr(messages, "insert_accepted", real)
    retry = wired.post(CALLBACK, json=signed_confirm("REFRETRY2"))
    assert retry.status_code == 200 and retry.json()["MaLoi"] == "00", retry.text
    monkeypatch.undo()
    assert wired.post(CALLBACK, json=signed_confirm("REFRETRY2")).json()["MaLoi"] == "02"
