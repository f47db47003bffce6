"""Idempotency-Key on the queued operations: the key's record and the message commit
together, in one unit of work (the real gateway: flows, store and group commit on SQLite;
no partner is called)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from gateway.api.app import HTTP_METHODS, create_app
from gateway.api.idempotency import ATOMIC_OPERATIONS, JSON_HEADERS, request_hash
from gateway.api.spec import load_served_spec
from gateway.bootstrap import Gateway, build
from gateway.config import load_settings
from gateway.demo import _spec_examples
from gateway.flows.dossiers import QueueDossierSync, queue_dossier_sync
from gateway.flows.idempotency import IdempotencyKeys, KeyAlreadyUsed, KeyClaim, KeyedAnswer
from gateway.store import messages as message_rows
from gateway.store.idempotency import IdempotencyRecords
from gateway.store.schema import messages

REPO = Path(__file__).resolve().parents[3]
CITY_KEY = "demo-city-key"
CALLER = "city-dossier-system"  # the demo key's caller name (config/demo.yaml)
DOSSIERS = "/v1/dossiers"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    environ = {"TTHC_VAR_DIR": str(tmp_path), "TTHC_KEYS__DIRECTORY": str(tmp_path / "keys")}
    built = build(load_settings(REPO / "config", environ=environ))
    yield built
    built.close()


@pytest.fixture
def client(gateway: Gateway) -> TestClient:
    app = create_app(gateway.api_services(), validate_responses=True)
    return TestClient(app, raise_server_exceptions=False)


def dossier(status: int = 2, code: str = "000.00.00.H26-261127-00001") -> dict[str, Any]:
    record = dict(_spec_examples()["dossier"])
    record.update(MaHoSo=code, TrangThaiHoSo=str(status))
    return record


def post(client: TestClient, body: dict[str, Any], key: str) -> Any:
    return client.post(
        DOSSIERS,
        content=json.dumps(body).encode(),
        headers={"X-API-Key": CITY_KEY, "Idempotency-Key": key, "Content-Type": "application/json"},
    )


def message_count(gateway: Gateway) -> int:
    with gateway.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(messages)).scalar_one())


def test_the_answer_is_recorded_with_the_message_and_replayed_byte_for_byte(
    client: TestClient, gateway: Gateway
) -> None:
    first = post(client, dossier(), "atomic-key-0001")
    assert first.status_code == 202, first.text
    assert "idempotent-replayed" not in first.headers
    message_id = first.json()["messageId"]
    assert gateway.store.get(message_id) is not None
    again = post(client, dossier(), "atomic-key-0001")
    assert again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content  # the very bytes sent the first time
    assert again.headers["content-type"] == "application/json"
    assert message_count(gateway) == 1


def test_the_same_key_with_another_body_is_422_and_stores_nothing(
    client: TestClient, gateway: Gateway
) -> None:
    assert post(client, dossier(2), "atomic-key-0002").status_code == 202
    other = post(client, dossier(4), "atomic-key-0002")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert message_count(gateway) == 1


def test_a_refusal_stores_neither_message_nor_key(client: TestClient, gateway: Gateway) -> None:
    assert post(client, dossier(4), "atomic-key-0003").status_code == 202
    backwards = post(client, dossier(2), "atomic-key-0004")
    assert backwards.status_code == 422
    assert backwards.json()["code"] == "illegal_status_transition"
    assert message_count(gateway) == 1
    again = post(client, dossier(2), "atomic-key-0004")
    assert again.status_code == 422  # judged again: a raised refusal is never stored
    assert "idempotent-replayed" not in again.headers
    assert post(client, dossier(5), "atomic-key-0004").status_code == 202  # the key is free


def test_when_the_message_cannot_be_stored_the_key_is_not_recorded(
    client: TestClient, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(message_rows, "insert_accepted", broken)
    body = dossier()
    assert post(client, body, "atomic-key-0005").status_code == 500
    fingerprint = request_hash("POST", DOSSIERS, json.dumps(body).encode())
    claim = KeyClaim(CALLER, "atomic-key-0005", fingerprint)
    records = IdempotencyRecords(gateway.engine)
    assert records.lookup(claim).state == "miss"
    monkeypatch.undo()
    retried = post(client, body, "atomic-key-0005")
    assert retried.status_code == 202  # the key was left neither recorded nor reserved
    assert "idempotent-replayed" not in retried.headers
    assert records.lookup(claim).state == "hit"
    assert message_count(gateway) == 1


def test_concurrent_requests_with_one_key_store_one_message(gateway: Gateway) -> None:
    """Eight threads, one key, through the group commit: one message, one answer for all."""
    body = dossier()
    fingerprint = request_hash("POST", DOSSIERS, json.dumps(body).encode())
    keyed = KeyedAnswer(KeyClaim("city", "k-same", fingerprint), 202, JSON_HEADERS)
    answers: list[bytes] = []
    barrier = threading.Barrier(8)

    def one() -> None:
        command = QueueDossierSync(body, "corr-00000001", keyed)
        barrier.wait()
        queued: Future[Any] = queue_dossier_sync(command, gateway.units_of_work(), gateway.signer)
        try:
            answers.append(queued.result(timeout=30).answer)
        except KeyAlreadyUsed as used:
            assert used.found.state == "hit" and used.found.response is not None
            answers.append(used.found.response.body)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 8 and len(set(answers)) == 1
    assert message_count(gateway) == 1


def test_the_atomic_operations_are_the_contracts_queued_ones() -> None:
    spec = load_served_spec()
    answers = {
        operation["operationId"]: {int(code) for code in operation["responses"] if code[0] == "2"}
        for item in spec["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }
    for operation_id, status in ATOMIC_OPERATIONS.items():
        assert answers[operation_id] == {status}, operation_id


def test_the_queued_operations_take_no_reservation(
    client: TestClient, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_reservation(*_: Any, **__: Any) -> Any:
        raise AssertionError("a queued operation reserved its key")

    monkeypatch.setattr(IdempotencyKeys, "reserve_soon", no_reservation)
    monkeypatch.setattr(IdempotencyKeys, "answer_soon", no_reservation)
    assert post(client, dossier(2), "atomic-key-0006").status_code == 202
    progress = dict(_spec_examples()["progress"], TrangThai="4")
    answer = client.post(
        "/v1/dossiers/000.00.00.H26-261127-00001/progress",
        content=json.dumps(progress).encode(),
        headers={
            "X-API-Key": CITY_KEY,
            "Idempotency-Key": "atomic-key-0007",
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 202, answer.text
    assert message_count(gateway) == 2
