"""POST /v1/payments with an Idempotency-Key: INIT at most once, whatever is lost after it.

The real gateway (flows, ledger, idempotency records on SQLite) against the payment mock
in-process (``responses``); the failure is injected where the API stores the key's answer.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from starlette.testclient import TestClient

from gateway.api.app import create_app
from gateway.bootstrap import Gateway, build
from gateway.config import load_settings
from gateway.demo import _spec_examples
from gateway.flows.idempotency import IdempotencyKeys, KeyClaim, StoredResponse
from gateway.flows.payments import keyed_reference
from gateway.store.idempotency import KeyPolicy
from gateway.store.unit_of_work import units_of_work
from mocks.framework import register_responses
from mocks.payment.app import PaymentMock
from mocks.settings import MockSettings

REPO = Path(__file__).resolve().parents[3]
CITY = {"X-API-Key": "demo-city-key", "Content-Type": "application/json"}
CALLER = "city-dossier-system"
RESERVATION = timedelta(milliseconds=300)


class SaveFails(IdempotencyKeys):
    """The port whose first answer's record fails (the database went away)."""

    failures = 1

    def answer_soon(self, claim: KeyClaim, response: StoredResponse) -> Future[None]:
        if self.failures:
            self.failures -= 1
            failed: Future[None] = Future()
            failed.set_exception(ConnectionError("the store went away"))
            return failed
        return super().answer_soon(claim, response)


@pytest.fixture
def mock() -> Iterator[PaymentMock]:
    settings = MockSettings()
    payment = PaymentMock(settings)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        register_responses(rsps, f"{settings.public_url}/payment", payment)
        yield payment


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    environ = {
        "TTHC_VAR_DIR": str(tmp_path),
        "TTHC_KEYS__DIRECTORY": str(tmp_path / "keys"),
        "TTHC_EVIDENCE__TSA_URL": "",
    }
    built = build(load_settings(REPO / "config", environ=environ))
    yield built
    built.close()


def client_for(gateway: Gateway, store: IdempotencyKeys) -> TestClient:
    services = dataclasses.replace(gateway.api_services(), idempotency=store)
    return TestClient(create_app(services, validate_responses=True), raise_server_exceptions=False)


def inits(mock: PaymentMock) -> list[dict[str, Any]]:
    return [r for r in mock.recorded if r["path"].endswith("/api/v1/init")]


def post(client: TestClient, body: dict[str, Any], key: str) -> Any:
    return client.post(
        "/v1/payments", content=json.dumps(body), headers=CITY | {"Idempotency-Key": key}
    )


def payment() -> dict[str, Any]:
    return dict(_spec_examples()["payment"])


def test_a_lost_idempotency_answer_never_leads_to_a_second_init(
    gateway: Gateway, mock: PaymentMock
) -> None:
    store = SaveFails(units_of_work(gateway.engine, KeyPolicy(reservation=RESERVATION)))
    client = client_for(gateway, store)
    first = post(client, payment(), "pay-lost-answer-1")
    assert first.status_code >= 500  # INIT done, the answer's record failed: not answered
    assert len(inits(mock)) == 1
    time.sleep(RESERVATION.total_seconds() + 0.1)  # the reservation lapses: the key is free

    again = post(client, payment(), "pay-lost-answer-1")
    assert again.status_code == 201, again.text
    assert len(inits(mock)) == 1  # the payment found by its keyed MaThamChieu, no INIT
    created = again.json()
    reference = keyed_reference(payment()["MaHoSo"], CALLER, "pay-lost-answer-1")
    assert created["MaThamChieu"] == reference
    assert list(mock.transactions) == [reference]  # one transaction, one checkout link
    assert created["UrlThanhToan"].endswith(f"/checkout/{reference}")

    replayed = post(client, payment(), "pay-lost-answer-1")  # now the answer is stored
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == created
    assert len(inits(mock)) == 1


def test_the_replayed_answer_equals_the_first(gateway: Gateway, mock: PaymentMock) -> None:
    """The ledger's answer for a key is the answer INIT gave (ThoiGianGD: when recorded)."""
    client = client_for(gateway, IdempotencyKeys(gateway.units_of_work))
    first = post(client, payment(), "pay-same-answer-1")
    assert first.status_code == 201, first.text
    flows_answer = gateway.payments.create(
        payment(), caller=CALLER, correlation_id="test", idempotency_key="pay-same-answer-1"
    )
    answered = first.json()
    times = [
        datetime.strptime(a.pop("ThoiGianGD"), "%Y%m%d%H%M%S") for a in (flows_answer, answered)
    ]
    assert abs(times[0] - times[1]) <= timedelta(seconds=2)
    assert flows_answer == answered
    assert len(inits(mock)) == 1


def test_another_amount_under_the_same_key_is_a_conflict(
    gateway: Gateway, mock: PaymentMock
) -> None:
    gateway.payments.create(payment(), caller=CALLER, correlation_id="t", idempotency_key="k-1")
    other = payment()
    other["SoTien"] = other["SoTien"] + 1000
    other["ThongTinBienLai"] = dict(other["ThongTinBienLai"])
    fees = [dict(fee) for fee in other["ThongTinBienLai"]["PhiLePhi"]]
    fees[0]["SoTien"] += 1000
    other["ThongTinBienLai"]["PhiLePhi"] = fees
    from gateway.domain.errors import Conflict

    with pytest.raises(Conflict):
        gateway.payments.create(other, caller=CALLER, correlation_id="t", idempotency_key="k-1")
    assert len(inits(mock)) == 1


def test_a_lost_ledger_row_is_refused_by_the_platform_not_paid_twice(
    gateway: Gateway, mock: PaymentMock
) -> None:
    """INIT reached the platform but the ledger row was not written: the retry's INIT
    carries the same MaThamChieu, the platform refuses it (04), no second link."""
    from gateway.domain.errors import Conflict
    from gateway.store.schema import payments as payments_table

    gateway.payments.create(payment(), caller=CALLER, correlation_id="t", idempotency_key="k-2")
    with gateway.engine.begin() as connection:
        connection.execute(payments_table.delete())
    with pytest.raises(Conflict):
        gateway.payments.create(payment(), caller=CALLER, correlation_id="t", idempotency_key="k-2")
    assert len(mock.transactions) == 1


def test_without_a_key_each_request_is_a_new_payment(gateway: Gateway, mock: PaymentMock) -> None:
    client = client_for(gateway, IdempotencyKeys(gateway.units_of_work))
    first = client.post("/v1/payments", content=json.dumps(payment()), headers=CITY)
    second = client.post("/v1/payments", content=json.dumps(payment()), headers=CITY)
    assert first.status_code == second.status_code == 201
    assert first.json()["MaThamChieu"] != second.json()["MaThamChieu"]
    assert len(inits(mock)) == 2
