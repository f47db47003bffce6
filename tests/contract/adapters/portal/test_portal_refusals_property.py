"""Property: an illegal status change or a malformed record never reaches the portal.

For every pair (stated current status, new status) the one-stop process forbids, and for
records whose identifiers are broken, both bindings refuse before any HTTP call: the
portal mock (in-process) has received nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from portal_harness import IN_PROCESS_BASE, portal_config

from adapters.portal import build_portal_client
from adapters.portal.port import PortalClient
from gateway.domain.errors import (
    ContractViolation,
    GatewayError,
    IdentifierError,
    IllegalTransition,
)
from gateway.domain.status import DossierStatus, is_legal
from gateway.testing.partners import sample_dossier, sample_progress
from gateway.testing.recorders import ListRecorder
from mocks.framework import register_responses
from mocks.portal.app import PortalMock
from mocks.settings import MockSettings

illegal_pairs = st.tuples(st.sampled_from(DossierStatus), st.sampled_from(DossierStatus)).filter(
    lambda pair: not is_legal(*pair)
)
broken_codes = st.one_of(
    st.text(max_size=30),
    st.from_regex(
        r"\A[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}-[0-9]{2}(1[3-9]|00)[0-9]{2}-[0-9]{4}\Z"
    ),
    st.from_regex(r"\A[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[a-z][0-9]{2}-241120-[0-9]{4}\Z"),
    st.from_regex(r"\A[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.H26-241120-[0-9]{1,3}\Z"),
)
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(params=["rest", "soap"])
def silent_portal(request: pytest.FixtureRequest) -> Iterator[tuple[PortalClient, PortalMock]]:
    mock = PortalMock(MockSettings())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        register_responses(rsps, IN_PROCESS_BASE, mock)
        client = build_portal_client(portal_config(IN_PROCESS_BASE, request.param), ListRecorder())
        yield client, mock


@SETTINGS
@given(pair=illegal_pairs)
def test_illegal_transitions_are_refused_before_any_call(
    silent_portal: tuple[PortalClient, PortalMock], pair: tuple[DossierStatus, DossierStatus]
) -> None:
    client, mock = silent_portal
    current, new = pair
    with pytest.raises(IllegalTransition):
        client.sync_dossier(sample_dossier(status=new), current_status=current)
    with pytest.raises(IllegalTransition):
        client.push_progress(sample_progress(status=new), current_status=current)
    assert mock.recorded == []


@SETTINGS
@given(code=broken_codes)
def test_malformed_dossier_codes_are_refused_before_any_call(
    silent_portal: tuple[PortalClient, PortalMock], code: str
) -> None:
    client, mock = silent_portal
    with pytest.raises((IdentifierError, ContractViolation)) as caught:  # empty: missing
        client.sync_dossier(sample_dossier(dossier_code=code))
    assert caught.value.field == "MaHoSo"
    with pytest.raises(GatewayError):
        client.push_progress(sample_progress(dossier_code=code))
    assert mock.recorded == []
