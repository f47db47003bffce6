"""The store going away is a 503 with Retry-After, never a 500, and never shows its text."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import pytest
from api_fakes import CITY_KEY, FakeBackend, request_example, spec
from sqlalchemy import exc as sa_exc
from starlette.testclient import TestClient

from gateway.api.errors import RETRY_AFTER_SECONDS
from gateway.api.services import ReadinessCheck

CITY = {"X-API-Key": CITY_KEY}
SECRET_TEXT = 'connection to server at "db-primary.internal" (10.1.2.3), port 5432 failed: FATAL: password authentication failed for user "tthc_app"'
LEAKS = ("db-primary", "10.1.2.3", "tthc_app", "5432", "FATAL", "password")


def dossier_example() -> dict[str, Any]:
    return dict(request_example(spec()["paths"]["/v1/dossiers"]["post"]))


def operational() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("SELECT 1", {}, psycopg.OperationalError(SECRET_TEXT))


def wrapped_in_a_future_failure() -> RuntimeError:
    try:
        try:
            raise operational()
        except sa_exc.OperationalError as error:
            raise RuntimeError("ledger completion flush failed") from error
    except RuntimeError as error:
        return error


STORE_DOWN = {
    "sqlalchemy OperationalError": operational,
    "sqlalchemy InterfaceError": lambda: sa_exc.InterfaceError(
        "SELECT 1", {}, psycopg.InterfaceError(SECRET_TEXT)
    ),
    "invalidated DBAPIError": lambda: sa_exc.DBAPIError(
        "COMMIT", {}, psycopg.DatabaseError(SECRET_TEXT), connection_invalidated=True
    ),
    "raw psycopg OperationalError": lambda: psycopg.OperationalError(SECRET_TEXT),
    "pool timeout": lambda: sa_exc.TimeoutError(f"QueuePool limit reached ({SECRET_TEXT})"),
    "sqlite locked": lambda: sa_exc.OperationalError(
        "BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked")
    ),
    "caused by one": wrapped_in_a_future_failure,
}


def assert_store_unavailable(response: Any) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert 1 <= RETRY_AFTER_SECONDS <= 10
    problem: dict[str, Any] = response.json()
    assert problem["code"] == "store_unavailable"
    assert problem["status"] == 503
    assert problem["type"].endswith("/store-unavailable")
    assert problem["correlationId"] == response.headers["x-correlation-id"]
    assert "store" in problem["detail"] and "unavailable" in problem["detail"]
    for leak in LEAKS:
        assert leak not in response.text
    return problem


@pytest.mark.parametrize("make_error", STORE_DOWN.values(), ids=list(STORE_DOWN))
def test_the_store_unavailable_is_503_with_retry_after(
    client: TestClient, backend: FakeBackend, make_error: Any
) -> None:
    backend.errors["uow.commit"] = make_error()  # the commit's future fails with it
    response = client.post("/v1/dossiers", json=dossier_example(), headers=CITY)
    assert_store_unavailable(response)


def test_a_blocking_port_meeting_the_outage_is_503_too(
    client: TestClient, backend: FakeBackend
) -> None:
    backend.errors["dossiers.portal_status"] = operational()  # run in a worker thread
    response = client.get("/v1/dossiers/000.00.00.H26-241120-0001/portal-status", headers=CITY)
    assert_store_unavailable(response)


def test_a_503_is_logged_as_one_line_without_a_traceback(
    client: TestClient, backend: FakeBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    backend.errors["uow.commit"] = operational()
    client.post("/v1/dossiers", json=dossier_example(), headers=CITY)
    logged = capsys.readouterr()
    text = logged.out + logged.err
    assert "store_unavailable" in text
    assert "Traceback" not in text


OTHER_DATABASE_ERRORS = {
    "integrity": lambda: sa_exc.IntegrityError("INSERT", {}, psycopg.IntegrityError("dup")),
    "programming": lambda: sa_exc.ProgrammingError(
        "SELECT", {}, psycopg.ProgrammingError("syntax")
    ),
    "sqlite no such table": lambda: sa_exc.OperationalError(
        "SELECT", {}, sqlite3.OperationalError("no such table: messages")
    ),
}


@pytest.mark.parametrize(
    "make_error", OTHER_DATABASE_ERRORS.values(), ids=list(OTHER_DATABASE_ERRORS)
)
def test_other_database_errors_stay_500(
    client: TestClient, backend: FakeBackend, make_error: Any
) -> None:
    backend.errors["uow.commit"] = make_error()
    response = client.post("/v1/dossiers", json=dossier_example(), headers=CITY)
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "retry-after" not in response.headers


def test_readyz_reports_the_database_down_without_its_text_then_recovers(
    make_client: Any,
) -> None:
    state = {"down": True}

    def database() -> str:
        if state["down"]:
            raise operational()
        return "ok"

    def broker() -> str:
        raise sa_exc.ProgrammingError("SELECT 1", {}, psycopg.ProgrammingError(SECRET_TEXT))

    client = make_client(
        readiness_checks=[ReadinessCheck("database", database), ReadinessCheck("queue", broker)],
        readiness_cache_seconds=0,
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = {check["name"]: check for check in response.json()["checks"]}
    assert checks["database"] == {**checks["database"], "ok": False}
    assert checks["database"]["detail"] == "store unavailable (OperationalError)"
    assert checks["queue"]["detail"] == "ProgrammingError"  # any database error: its type only
    for leak in LEAKS:
        assert leak not in response.text
    state["down"] = False
    again = client.get("/readyz")
    checks = {check["name"]: check for check in again.json()["checks"]}
    assert checks["database"]["ok"] is True and checks["database"]["detail"] == "ok"
