"""Idempotency-Key on POST, with the real port and store on a migrated SQLite database."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import pytest
from api_fakes import CITY_KEY, LIMITED_KEY, FakeBackend, request_example, spec
from sqlalchemy import Engine
from starlette.testclient import TestClient

from gateway.api.idempotency import IdempotencyMiddleware, request_hash
from gateway.api.security import BODY_EXTENSION
from gateway.domain.errors import UpstreamTimeout
from gateway.flows.idempotency import IdempotencyKeys, KeyClaim, StoredResponse
from gateway.store.unit_of_work import units_of_work

LOOKUP = "/v1/citizens/lookup"


@pytest.fixture
def idem_client(make_client: Any, engine: Engine) -> TestClient:
    client: TestClient = make_client(idempotency=IdempotencyKeys(units_of_work(engine)))
    return client


def test_request_hash_depends_on_method_path_and_exact_body() -> None:
    base = request_hash("post", "/v1/dossiers", b'{"a":1}')
    assert base == request_hash("POST", "/v1/dossiers", b'{"a":1}')
    assert len({base, request_hash("POST", "/v1/dossiers", b'{"a": 1}'),
                request_hash("POST", "/v1/other", b'{"a":1}'), request_hash("PUT", "/v1/dossiers", b'{"a":1}')}) == 4  # fmt: skip


def _lookup(client: TestClient, key: str, body: dict[str, Any], api_key: str = CITY_KEY) -> Any:
    return client.post(LOOKUP, json=body, headers={"X-API-Key": api_key, "Idempotency-Key": key})


def test_same_key_same_body_answers_the_stored_response(
    idem_client: TestClient, backend: FakeBackend
) -> None:
    body = request_example(spec()["paths"][LOOKUP]["post"])
    first = _lookup(idem_client, "idem-key-00000001", body)
    backend.answers["citizens.lookup"] = {"found": False}
    second = _lookup(idem_client, "idem-key-00000001", body)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["content-type"] == "application/json"
    assert len(backend.calls) == 1


def test_same_key_different_body_is_422(idem_client: TestClient, backend: FakeBackend) -> None:
    body = request_example(spec()["paths"][LOOKUP]["post"])
    assert _lookup(idem_client, "idem-key-00000002", body).status_code == 200
    other = body | {"HoVaTen": "Nguyễn Văn Khác"}
    response = _lookup(idem_client, "idem-key-00000002", other)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert response.json()["errors"] == [
        {"field": "header.Idempotency-Key", "message": response.json()["detail"]}
    ]
    assert len(backend.calls) == 1


def test_keys_are_per_caller(idem_client: TestClient, backend: FakeBackend) -> None:
    body = request_example(spec()["paths"][LOOKUP]["post"])
    assert _lookup(idem_client, "idem-key-00000003", body).status_code == 200
    assert _lookup(idem_client, "idem-key-00000003", body, api_key=LIMITED_KEY).status_code == 200
    assert len(backend.calls) == 2


def test_a_failure_is_not_stored(idem_client: TestClient, backend: FakeBackend) -> None:
    body = request_example(spec()["paths"][LOOKUP]["post"])
    backend.errors["citizens.lookup"] = UpstreamTimeout("population", "slow")
    assert _lookup(idem_client, "idem-key-00000004", body).status_code == 504
    del backend.errors["citizens.lookup"]
    retried = _lookup(idem_client, "idem-key-00000004", body)
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers
    assert len(backend.calls) == 2


def test_without_a_key_nothing_is_stored(idem_client: TestClient, backend: FakeBackend) -> None:
    body = request_example(spec()["paths"][LOOKUP]["post"])
    for _ in range(2):
        assert (
            idem_client.post(LOOKUP, json=body, headers={"X-API-Key": CITY_KEY}).status_code == 200
        )
    assert len(backend.calls) == 2


class _HeldStore:
    """An IdempotencyPort whose answer record commits only when the test says so."""

    def __init__(self) -> None:
        self.saved: Future[None] = Future()
        self.stored: list[tuple[int, bytes, dict[str, str]]] = []

    def reserve_soon(self, claim: KeyClaim) -> Future[None]:
        done: Future[None] = Future()
        done.set_result(None)
        return done

    def answer_soon(self, claim: KeyClaim, response: StoredResponse) -> Future[None]:
        self.stored.append((response.status, response.body, dict(response.headers)))
        return self.saved

    def release_soon(self, claim: KeyClaim) -> Future[None]:
        raise AssertionError("nothing failed")


def test_the_answer_is_sent_only_after_its_record_is_committed() -> None:
    store = _HeldStore()
    runtime: Any = SimpleNamespace(services=SimpleNamespace(idempotency=store))

    async def handler(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b'{"status":"accepted"}'})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}"}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/citizens/lookup",
        "headers": [(b"idempotency-key", b"idem-key-00000009")],
        "extensions": {
            "connexion_context": {"token_info": {"caller": "city"}},
            BODY_EXTENSION: b"{}",
        },
    }

    async def scenario() -> None:
        call = asyncio.ensure_future(IdempotencyMiddleware(handler, runtime)(scope, receive, send))
        for _ in range(20):
            await asyncio.sleep(0)
        assert store.stored == [(202, b'{"status":"accepted"}', {})]
        assert sent == []  # held: the record is not committed yet
        store.saved.set_result(None)
        await asyncio.wait_for(call, 5)
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]

    asyncio.run(scenario())
