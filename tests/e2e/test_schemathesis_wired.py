"""schemathesis against the fully wired gateway: real flows, store, keys and adapters,
partners played by the mocks over HTTP.

Bounded (3 examples per operation). Every answer must conform to the contract, and no
answer may be a ``500``: the gateway's own failures are bugs; a ``502``/``503``/``504`` is
allowed only as a problem that names the partner (a mock refusing generated data the
gateway's contract allows, e.g. fees that do not add up to the amount).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.api.app import create_app
from gateway.bootstrap import build, mock_settings
from gateway.config import load_settings
from mocks.server import build_app
from tests.e2e.stack import REPO, free_port

pytestmark = pytest.mark.e2e
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _wired_app(var_dir: Path) -> tuple[Any, uvicorn.Server]:
    port = free_port()
    mocks = f"http://127.0.0.1:{port}"
    environ = {
        "TTHC_VAR_DIR": str(var_dir),
        "TTHC_KEYS__DIRECTORY": str(var_dir / "keys"),
        "TTHC_MOCKS__PORT": str(port),
        "TTHC_ADAPTERS__PORTAL__URL": f"{mocks}/portal",
        "TTHC_ADAPTERS__PAYMENT__URL": f"{mocks}/payment",
        "TTHC_ADAPTERS__POPULATION__URL": f"{mocks}/population/ws",
        "TTHC_ADAPTERS__WAREHOUSE__URL": f"{mocks}/warehouse",
        "TTHC_ADAPTERS__CITY__URL": f"{mocks}/city",
    }
    gateway_settings = load_settings(REPO / "config", environ=environ)
    server = uvicorn.Server(
        uvicorn.Config(build_app(mock_settings(gateway_settings)), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    gateway = build(gateway_settings)
    return create_app(gateway.api_services(), validate_responses=True), server


# Built at import: schemathesis parametrizes from the served spec at collection time.
_VAR = Path(tempfile.mkdtemp(prefix="tthc-wired-"))
APP, MOCKS = _wired_app(_VAR)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


def teardown_module() -> None:
    MOCKS.should_exit = True
    shutil.rmtree(_VAR, ignore_errors=True)


@pytest.mark.filterwarnings("ignore")
@schema.parametrize()
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_on_the_wired_gateway(case: Any) -> None:
    key = "demo-ops-key" if case.path.startswith("/v1/admin/") else "demo-city-key"
    response = case.call(headers={"X-API-Key": key})
    assert response.status_code != 500, response.text
    if response.status_code >= 502:
        assert response.json().get("partner"), response.text
    case.validate_response(response, checks=CONFORMANCE)
