"""Each fault mode of the portal mock ends in the right classification and a clear error.

Transient (the messaging layer retries): UpstreamTimeout, UpstreamUnavailable.
Permanent (parked): UpstreamRejected, UpstreamMalformed, ContractViolation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from portal_harness import PortalHarness, make_harness

from gateway.domain.errors import (
    UpstreamMalformed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.testing.partners import sample_dossier
from mocks.framework import FaultSpec

CODE = "000.00.00.H26-241120-0001"


def test_timeout_is_transient(portal: PortalHarness) -> None:
    portal.fault(timeout=True, count=1)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as caught:
        portal.client.sync_dossier(sample_dossier())
    assert time.monotonic() - started < 2.0  # the client's read timeout, not the mock's hang
    assert caught.value.transient
    assert "TraCuuHoSo" in caught.value.detail and "no answer within" in caught.value.detail
    assert "DongBoHoSoMC" not in portal.services_called()


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_is_transient(portal: PortalHarness, status: int) -> None:
    portal.fault(status=status, count=1)
    with pytest.raises(UpstreamUnavailable) as caught:
        portal.client.find_dossier(CODE)
    assert caught.value.transient
    detail = caught.value.detail
    assert f"HTTP {status}" in detail or (
        portal.binding == "soap" and "SOAP Fault Server" in detail
    )


def test_soap_fault_is_transient_when_the_server_fails(portal: PortalHarness) -> None:
    portal.fault(soap_fault=True, count=1)
    with pytest.raises(UpstreamUnavailable) as caught:
        portal.client.find_dossier(CODE)
    assert caught.value.transient
    assert "SOAP Fault Server" in caught.value.detail or "HTTP 500" in caught.value.detail


def test_malformed_answer_is_permanent(portal: PortalHarness) -> None:
    portal.fault(malformed=True, count=1)
    with pytest.raises(UpstreamMalformed) as caught:
        portal.client.find_dossier(CODE)
    assert not caught.value.transient
    assert "TraCuuHoSo" in caught.value.detail
    assert "not JSON" in caught.value.detail or "not well-formed" in caught.value.detail


def test_oversized_answer_is_refused(portal: PortalHarness) -> None:
    portal.fault(oversized_bytes=400 * 1024, count=1)
    with pytest.raises(UpstreamMalformed) as caught:
        portal.client.find_dossier(CODE)
    assert "limit" in caught.value.detail


def test_latency_within_the_timeout_is_fine(portal: PortalHarness) -> None:
    portal.fault(latency_ms=100, count=1)
    assert portal.client.find_dossier(CODE) is None


def test_expired_session(portal: PortalHarness) -> None:
    """REST: one re-login, then the call succeeds. SOAP (no session): access denied, permanent."""
    portal.client.sync_dossier(sample_dossier())
    portal.fault(expired_session=True, count=1)
    if portal.binding == "rest":
        found = portal.client.find_dossier(CODE)
        assert found is not None and found.dossier_code == CODE
        assert portal.client.logins == 2  # type: ignore[union-attr]
    else:
        with pytest.raises(UpstreamRejected) as caught:
            portal.client.find_dossier(CODE)
        assert "SOAP Fault Client" in caught.value.detail
        assert not caught.value.transient


def test_session_still_refused_after_relogin_is_transient(rest_portal: PortalHarness) -> None:
    portal = rest_portal
    portal.fault(expired_session=True, count=2)
    with pytest.raises(UpstreamUnavailable) as caught:
        portal.client.find_dossier(CODE)
    assert caught.value.transient
    assert "session refused again after a fresh login" in caught.value.detail
    assert portal.client.logins == 2  # type: ignore[union-attr]
    assert portal.services_called() == ["TraCuuHoSo", "TraCuuHoSo"]  # exactly one retry


def test_portal_try_later_code_is_transient(rest_portal: PortalHarness) -> None:
    """REST only: the SOAP mock answers an outage as a Server fault (covered above)."""
    portal = rest_portal
    portal.fault(status=200, count=1)  # HTTP 200 with error_code 99
    with pytest.raises(UpstreamUnavailable) as caught:
        portal.client.find_dossier(CODE)
    assert "error_code 99" in caught.value.detail


def test_wrong_credentials_are_permanent(transport: str, request: pytest.FixtureRequest) -> None:
    harness: Iterator[PortalHarness] = make_harness("rest", transport, request, password="wrong")
    portal = next(harness)
    try:
        with pytest.raises(UpstreamRejected) as caught:
            portal.client.find_dossier(CODE)
        assert "login: refused with error_code 1" in caught.value.detail
        assert "wrong" not in caught.value.detail
    finally:
        harness.close()


def test_idempotent_reads_are_retried_once(
    binding: str, transport: str, request: pytest.FixtureRequest
) -> None:
    harness = make_harness(binding, transport, request, read_retries=1, retry_backoff=0.0)
    portal = next(harness)
    try:
        # SOAP: an outage answers HTTP 500 + Server fault, which PartnerHttp does not retry
        # (see the report); a timeout is retried on both bindings
        fault = {"timeout": True} if binding == "soap" else {"status": 503}
        portal.mock.add_fault(FaultSpec(route=portal.sharing_route, count=1, **fault))
        assert portal.client.list_procedures()
        assert portal.services_called() == ["LayDanhSachTTHC", "LayDanhSachTTHC"]
    finally:
        harness.close()


def test_circuit_opens_after_repeated_outages(
    binding: str, transport: str, request: pytest.FixtureRequest
) -> None:
    harness = make_harness(binding, transport, request, failure_threshold=2, reset_after=60.0)
    portal = next(harness)
    try:
        portal.fault(**({"timeout": True} if binding == "soap" else {"status": 503}))
        for _ in range(2):
            with pytest.raises((UpstreamUnavailable, UpstreamTimeout)):
                portal.client.find_dossier(CODE)
        received = len(portal.mock.recorded)
        with pytest.raises(UpstreamUnavailable) as caught:
            portal.client.find_dossier(CODE)
        assert "circuit" in caught.value.detail.lower()
        assert len(portal.mock.recorded) == received  # refused without calling the portal
    finally:
        harness.close()


def test_soap_server_faults_open_the_circuit_and_client_faults_do_not(
    transport: str, request: pytest.FixtureRequest
) -> None:
    """Both arrive as HTTP 500: the fault code, not the status, settles the breaker."""
    harness = make_harness("soap", transport, request, failure_threshold=2, reset_after=60.0)
    portal = next(harness)
    try:
        portal.fault(expired_session=True, count=3)  # Client fault "01: access denied"
        for _ in range(3):
            with pytest.raises(UpstreamRejected) as refused:
                portal.client.find_dossier(CODE)
            assert not refused.value.transient
        assert portal.client.http.breaker.snapshot().consecutive_failures == 0
        portal.fault(soap_fault=True)  # Server fault, on every call from now on
        for _ in range(2):
            with pytest.raises(UpstreamUnavailable, match="SOAP Fault Server"):
                portal.client.find_dossier(CODE)
        received = len(portal.mock.recorded)
        with pytest.raises(UpstreamUnavailable, match="circuit open"):
            portal.client.find_dossier(CODE)
        assert len(portal.mock.recorded) == received  # refused without calling the portal
    finally:
        harness.close()
