"""Idempotency-Key on the queued operations: the key's record and the message commit
together (the real gateway: flows, store and group commit on SQLite; no partner is called)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from gateway.api.app import HTTP_METHODS, create_app
from gateway.api.idempotency import ATOMIC_OPERATIONS, AtomicClaim, IdempotentReplay
from gateway.api.spec import load_served_spec
from gateway.bootstrap import Gateway, build
from gateway.config import load_settings
from gateway.demo import _spec_examples
from gateway.flows.ports import CallContext
from gateway.store.idempotency import IdempotencyStore, request_hash
from gateway.store.messages import MessageStore
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
    def broken(self: MessageStore, connection: Any, by_id: Any) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(MessageStore, "_accept_in", broken)
    body = dossier()
    assert post(client, body, "atomic-key-0005").status_code == 500
    fingerprint = request_hash("POST", DOSSIERS, json.dumps(body).encode())
    records = IdempotencyStore(gateway.engine)
    assert records.lookup(CALLER, "atomic-key-0005", fingerprint).state == "miss"
    monkeypatch.undo()
    retried = post(client, body, "atomic-key-0005")
    assert retried.status_code == 202  # the key was left neither recorded nor reserved
    assert "idempotent-replayed" not in retried.headers
    assert records.lookup(CALLER, "atomic-key-0005", fingerprint).state == "hit"
    assert message_count(gateway) == 1


def test_concurrent_requests_with_one_key_store_one_message(gateway: Gateway) -> None:
    """Eight threads, one key, through the group commit: one message, one answer for all."""
    services = gateway.api_services()
    assert services.dossiers is not None and services.idempotency is not None
    body = dossier()
    fingerprint = request_hash("POST", DOSSIERS, json.dumps(body).encode())
    answers: list[bytes] = []
    barrier = threading.Barrier(8)

    def one() -> None:
        claim = AtomicClaim(services.idempotency, "city", "k-same", fingerprint, 202)  # type: ignore[arg-type]
        ctx = CallContext("corr-00000001", "city", "k-same", None, record_answer=claim)
        barrier.wait()
        try:
            services.dossiers.sync_dossier_soon(body, ctx).result(timeout=30)  # type: ignore[union-attr]
            assert claim.body is not None
            answers.append(claim.body)
        except IdempotentReplay as replay:
            assert replay.outcome.state == "hit" and replay.outcome.response is not None
            answers.append(replay.outcome.response.body)

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

    monkeypatch.setattr(IdempotencyStore, "begin_soon", no_reservation)
    monkeypatch.setattr(IdempotencyStore, "save_soon", no_reservation)
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
