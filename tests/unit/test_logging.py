"""Redaction: no CCCD, name, address or credential reaches the log output in clear."""

from __future__ import annotations

import io
import json
import logging

import pytest

from gateway.logging import bind_correlation, clear_context, configure_logging, get_logger

CCCD = "001203001234"
NAME = "Nguyễn Thị Minh Khai"
ADDRESS = "Số 12 phố Hàng Bạc, phường Hàng Đào"
BASIC = "Basic ZGVtbzpzM2NyZXQ="


@pytest.fixture
def captured() -> io.StringIO:
    buffer = io.StringIO()
    configure_logging("json", "DEBUG", buffer)
    yield buffer
    clear_context()


def test_event_with_personal_data_and_credentials_is_masked(captured: io.StringIO) -> None:
    bind_correlation("corr-123")
    get_logger("test").info(
        "citizen lookup",
        SoDinhDanh=CCCD,
        HoVaTen=NAME,
        request={"headers": {"Authorization": BASIC, "X-API-Key": "demo-city-key"},
                 "body": {"CongDan": {"HoVaTen": {"Ho": "Nguyễn", "Ten": "Khai"}, "ThuongTru": {"ChiTiet": ADDRESS}}}},
        note=f"looked up {CCCD} with {BASIC}",
        MaXacThuc="ab" * 32,
        session="session-token-xyz",
    )
    output = captured.getvalue()
    for secret in (CCCD, NAME, ADDRESS, "ZGVtbzpzM2NyZXQ=", "demo-city-key", "ab" * 32, "session-token-xyz", "Nguyễn", "Khai"):
        assert secret not in output, secret
    line = json.loads(output.splitlines()[-1])
    assert line["correlation_id"] == "corr-123"
    assert line["SoDinhDanh"] == "001******234"
    assert line["event"] == "citizen lookup"


def test_stdlib_third_party_loggers_are_rendered_and_redacted(captured: io.StringIO) -> None:
    logging.getLogger("zeep.transports").warning("HTTP Post to %s: %s", "/population", f"<SoDinhDanh>{CCCD}</SoDinhDanh>")
    logging.getLogger("urllib3").warning("Authorization: %s", BASIC)
    output = captured.getvalue()
    assert CCCD not in output and "ZGVtbzpzM2NyZXQ=" not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert {line["logger"] for line in lines} >= {"zeep.transports", "urllib3"}


def test_non_personal_numbers_survive(captured: io.StringIO) -> None:
    get_logger("test").info("synced", dossier_code="000.00.00.H26-241120-0001", attempts=3, ThoiGianGD="20241120103000")
    line = json.loads(captured.getvalue().splitlines()[-1])
    assert line["dossier_code"] == "000.00.00.H26-241120-0001"
    assert line["attempts"] == 3 and line["ThoiGianGD"] == "20241120103000"
