"""Property tests: lossless round trips, and every translated record fits the contracts.

The validators here are built by the test from ``contracts/portal/`` itself (jsonschema
for the JSON Schemas, lxml for portal.xsd), not through the adapter's own checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator
from lxml import etree
from portal_strategies import dossiers, progresses
from referencing import Registry
from referencing.jsonschema import DRAFT7

from adapters.portal import translate
from adapters.portal.config import PortalConfig
from adapters.portal.soap import PORTAL_NS, SoapPortalClient, element_data
from gateway.domain.errors import GatewayError
from gateway.domain.status import TRANSITIONS, DossierStatus, is_legal
from gateway.testing.recorders import NullRecorder

CONTRACTS = Path(__file__).resolve().parents[4] / "contracts" / "portal"
SOAP_ENV = "{http://schemas.xmlsoap.org/soap/envelope/}"
PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _validator(name: str) -> Draft7Validator:
    common = json.loads((CONTRACTS / "schemas" / "common.schema.json").read_text("utf-8"))
    registry = Registry().with_resource("common.schema.json", DRAFT7.create_resource(common))
    schema = json.loads((CONTRACTS / "schemas" / name).read_text("utf-8"))
    return Draft7Validator(schema, registry=registry)


DOSSIER = _validator("dossier-record.schema.json")
PROGRESS = _validator("progress-record.schema.json")
XSD = etree.XMLSchema(etree.parse(str(CONTRACTS / "portal.xsd")))


@pytest.fixture(scope="module")
def soap_client() -> SoapPortalClient:
    config = PortalConfig(
        url="http://127.0.0.1:9/portal",
        agency_code="000.00.00.H26",
        binding="soap",
        allow_plain_http=True,
    )
    return SoapPortalClient(config, NullRecorder())


@PROPERTY
@given(dossiers)
def test_dossier_round_trip_is_lossless(record: object) -> None:
    try:
        item = translate.dossier_to_portal(record)  # type: ignore[arg-type]
    except GatewayError:
        return
    assert translate.dossier_from_portal(item) == record
    # and the wire form is stable: back and forth again gives the same bytes
    assert translate.dossier_to_portal(translate.dossier_from_portal(item)) == item


@PROPERTY
@given(dossiers)
def test_translated_dossier_validates_against_the_json_schema(record: object) -> None:
    try:
        item = translate.dossier_to_portal(record)  # type: ignore[arg-type]
    except GatewayError:
        return
    errors = [e.message for e in DOSSIER.iter_errors(item)]
    assert errors == []


def test_most_generated_dossiers_pass_translation() -> None:
    """Guard for the two properties above: they must not pass by refusing everything."""
    outcomes: list[bool] = []

    @settings(max_examples=80, deadline=None, database=None)
    @given(dossiers)
    def run(record: object) -> None:
        try:
            translate.dossier_to_portal(record)  # type: ignore[arg-type]
            outcomes.append(True)
        except GatewayError:
            outcomes.append(False)

    run()
    assert sum(outcomes) >= 0.75 * len(outcomes)


@PROPERTY
@given(progresses)
def test_progress_round_trip_and_schema(record: object) -> None:
    try:
        item = translate.progress_to_portal(record)  # type: ignore[arg-type]
    except GatewayError:
        return
    assert [e.message for e in PROGRESS.iter_errors(item)] == []
    assert translate.progress_from_portal(item) == record


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(record=dossiers)
def test_soap_request_validates_against_the_xsd(
    soap_client: SoapPortalClient, record: object
) -> None:
    try:
        item = translate.dossier_to_portal(record)  # type: ignore[arg-type]
        header = soap_client.xroad_header("DongBoHoSoMC", item["MaHoSo"])
        raw, _ = soap_client.caller.build(
            "DongBoHoSoMC",
            {"madonvi": "000.00.00.H26", "isUpdating": "False", "data": [item]},
            header,
        )
    except GatewayError:
        return
    body = etree.fromstring(raw).find(f"{SOAP_ENV}Body")
    assert body is not None
    assert XSD.validate(etree.ElementTree(body[0])), XSD.error_log.last_error


@given(current=st.sampled_from(DossierStatus), new=st.sampled_from(DossierStatus))
def test_transition_check_follows_the_one_stop_process(
    current: DossierStatus, new: DossierStatus
) -> None:
    allowed = new == current or new in TRANSITIONS[current]
    try:
        translate.check_dossier_transition(current, new, "000.00.00.H26-241120-0001")
        refused = False
    except GatewayError:
        refused = True
    assert refused is not allowed
    assert is_legal(current, new) is allowed


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(record=dossiers)
def test_soap_round_trip_is_lossless(soap_client: SoapPortalClient, record: object) -> None:
    """record -> zeep request XML -> the SOAP binding's XML reader -> record: nothing lost."""
    try:
        item = translate.dossier_to_portal(record)  # type: ignore[arg-type]
        header = soap_client.xroad_header("DongBoHoSoMC", item["MaHoSo"])
        raw, _ = soap_client.caller.build(
            "DongBoHoSoMC",
            {"madonvi": "000.00.00.H26", "isUpdating": "True", "data": [item]},
            header,
        )
    except GatewayError:
        return
    body = etree.fromstring(raw).find(f"{SOAP_ENV}Body")
    assert body is not None
    request_type = soap_client.caller.client.get_element(f"{{{PORTAL_NS}}}DongBoHoSoMC").type
    data = element_data(body[0], request_type, "DongBoHoSoMC")
    assert data["data"] == [item]
    assert translate.dossier_from_portal(data["data"][0]) == record
