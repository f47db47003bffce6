"""Every portal operation against the portal mock, both bindings, in-process and over HTTP."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

import pytest
from lxml import etree
from portal_harness import PortalHarness

from adapters.http import CallContext
from adapters.portal import DossierNotOnPortal, PortalRejected, ServiceLevel
from adapters.portal.records import (
    Fee,
    FeeCollection,
    FeeKind,
    OwnerIdentifier,
    OwnerIdentifierKind,
    ResultDocument,
    SubmittedDocument,
    SupplementRequest,
    SupplementState,
)
from gateway.domain.errors import IdentifierError, IllegalTransition, NotFound
from gateway.domain.status import DossierStatus
from gateway.testing.partners import VN, sample_dossier, sample_progress

CONTEXT = CallContext(correlation_id="corr-42", message_id="msg-7")
XROAD = "{http://x-road.eu/xsd/xroad.xsd}"
IDS = "{http://x-road.eu/xsd/identifiers}"
VN_MORNING = datetime(2024, 11, 22, 9, 15, 30, tzinfo=VN)


def test_sync_creates_then_updates_and_lookup_reads_it_back(portal: PortalHarness) -> None:
    record = sample_dossier()
    assert portal.client.find_dossier(record.dossier_code) is None
    created = portal.client.sync_dossier(record, context=CONTEXT)
    assert (created.updated, created.previous_status) == (False, None)
    assert portal.mock.store.dossiers[record.dossier_code]["TrangThaiHoSo"] == "2"

    moved = replace(record, status=DossierStatus.IN_PROCESS)
    updated = portal.client.sync_dossier(
        moved, current_status=DossierStatus.ACCEPTED, context=CONTEXT
    )
    assert (updated.updated, updated.previous_status) == (True, DossierStatus.ACCEPTED)
    assert portal.client.find_dossier(record.dossier_code) == moved
    assert portal.services_called() == [
        "TraCuuHoSo",
        "TraCuuHoSo",
        "DongBoHoSoMC",
        "TraCuuHoSo",
        "DongBoHoSoMC",
        "TraCuuHoSo",
    ]


def test_illegal_transition_from_the_portals_status_is_refused_before_the_sync(
    portal: PortalHarness,
) -> None:
    record = sample_dossier()
    portal.client.sync_dossier(record)
    with pytest.raises(IllegalTransition) as caught:
        portal.client.sync_dossier(replace(record, status=DossierStatus.PROCESSED))
    assert "TrangThaiHoSo 2" in caught.value.detail and "cannot become 9" in caught.value.detail
    assert portal.services_called() == ["TraCuuHoSo", "DongBoHoSoMC", "TraCuuHoSo"]  # no 2nd sync
    assert portal.mock.store.dossiers[record.dossier_code]["TrangThaiHoSo"] == "2"


def test_a_sync_the_portal_has_moved_past_updates_its_fields_and_keeps_the_status(
    portal: PortalHarness,
) -> None:
    """A redelivered sync (status 2) after its progress step took the portal to 4."""
    record = sample_dossier()
    portal.client.sync_dossier(record)
    portal.client.push_progress(sample_progress(status=DossierStatus.IN_PROCESS))
    again = replace(record, summary="Đăng ký khai sinh cho con (bổ sung)")
    outcome = portal.client.sync_dossier(again, context=CONTEXT)
    assert outcome.overtaken and outcome.previous_status == DossierStatus.IN_PROCESS
    stored = portal.mock.store.dossiers[record.dossier_code]
    assert stored["TrangThaiHoSo"] == "4"
    assert stored["TrichYeuHoSo"] == "Đăng ký khai sinh cho con (bổ sung)"
    assert portal.services_called()[-1] == "DongBoHoSoMC"


def test_a_portal_status_not_ahead_of_the_record_is_still_refused(portal: PortalHarness) -> None:
    portal.client.sync_dossier(sample_dossier(status=DossierStatus.REFUSED))
    with pytest.raises(IllegalTransition):
        portal.client.sync_dossier(sample_dossier(status=DossierStatus.ACCEPTED))
    assert portal.services_called().count("DongBoHoSoMC") == 1
    assert portal.mock.store.dossiers[sample_dossier().dossier_code]["TrangThaiHoSo"] == "3"


def test_illegal_transition_from_the_callers_status_sends_nothing(portal: PortalHarness) -> None:
    with pytest.raises(IllegalTransition):
        portal.client.sync_dossier(
            sample_dossier(status=DossierStatus.ACCEPTED), current_status=DossierStatus.REFUSED
        )
    with pytest.raises(IllegalTransition):
        portal.client.push_progress(
            sample_progress(status=DossierStatus.ACCEPTED), current_status=DossierStatus.PROCESSED
        )
    assert portal.mock.recorded == []


def test_malformed_record_sends_nothing(portal: PortalHarness) -> None:
    with pytest.raises(IdentifierError) as caught:
        portal.client.sync_dossier(sample_dossier(dossier_code="000.00.00.H26-241120-1"))
    assert caught.value.field == "MaHoSo"
    with pytest.raises(IdentifierError):
        portal.client.find_dossier("not-a-code")
    with pytest.raises(IdentifierError) as caught:
        portal.client.get_procedure("1.00119")
    assert caught.value.field == "MaTTHC"
    assert portal.mock.recorded == []


def test_progress_is_pushed_and_moves_the_portal_status(portal: PortalHarness) -> None:
    portal.client.sync_dossier(sample_dossier())
    message = portal.client.push_progress(
        sample_progress(status=DossierStatus.IN_PROCESS), context=CONTEXT
    )
    assert message
    stored = portal.mock.store.dossiers["000.00.00.H26-241120-0001"]
    assert stored["TrangThaiHoSo"] == "4"
    assert (
        portal.mock.store.progress["000.00.00.H26-241120-0001"][0]["NguoiXuLy"] == "Trần Thị Bình"
    )
    with pytest.raises(IllegalTransition):
        portal.client.push_progress(sample_progress(status=DossierStatus.RESULT_RETURNED))
    assert portal.services_called()[-1] == "TraCuuHoSo"


def test_progress_for_a_dossier_not_on_the_portal_is_transient(portal: PortalHarness) -> None:
    with pytest.raises(DossierNotOnPortal) as caught:
        portal.client.push_progress(sample_progress())
    assert caught.value.transient
    assert "not on the portal yet" in caught.value.detail


def test_catalogue_is_listed_filtered_and_cached(portal: PortalHarness) -> None:
    everything = portal.client.list_procedures()
    assert len(everything) > 10
    assert all(p.code.count(".") == 1 for p in everything)
    again = portal.client.list_procedures()
    assert again == everything
    full = portal.client.list_procedures(level=ServiceLevel.FULL)
    assert full and all(p.level is ServiceLevel.FULL for p in full)
    assert portal.services_called() == ["LayDanhSachTTHC", "LayDanhSachTTHC"]  # 2nd list cached


def test_one_procedure_local_code_maps_to_national_and_unknown_is_not_found(
    portal: PortalHarness,
) -> None:
    procedure = portal.client.get_procedure("1.001193.000.00.00.H26")
    assert procedure.code == "1.001193"
    assert procedure.steps and procedure.agencies
    assert portal.client.get_procedure("1.001193") == procedure  # cached by national code
    with pytest.raises(NotFound) as caught:
        portal.client.get_procedure("9.999999")
    assert caught.value.field == "maTTHC"
    assert portal.services_called() == ["LayThuTuc", "LayThuTuc"]


def test_every_call_and_answer_is_recorded_with_context_and_no_credentials(
    portal: PortalHarness,
) -> None:
    portal.client.sync_dossier(sample_dossier(), context=CONTEXT)
    exchanges = portal.recorder.exchanges
    ops = [(e.operation, e.direction) for e in exchanges if e.operation != "login"]
    assert ops == [
        ("TraCuuHoSo", "out"),
        ("TraCuuHoSo", "in"),
        ("DongBoHoSoMC", "out"),
        ("DongBoHoSoMC", "in"),
    ]
    for exchange in exchanges:
        assert b"demo-portal-password" not in exchange.body
        if exchange.operation == "login":
            continue
        assert exchange.correlation_id == "corr-42"
        assert exchange.message_id == "msg-7"
        assert exchange.dossier_code == "000.00.00.H26-241120-0001"
        assert exchange.personal  # dossier bodies carry the owner's name and numbers
    if portal.binding == "rest":
        sessions = [r["body"] for r in portal.mock.recorded if r["path"] == "/rest/integration"]
        token = sessions[0].split('"session":"')[1].split('"')[0]
        assert all(token.encode() not in e.body for e in exchanges)


def test_soap_requests_carry_the_xroad_header(soap_portal: PortalHarness) -> None:
    portal = soap_portal
    portal.client.sync_dossier(sample_dossier())
    portal.client.list_procedures()
    headers = []
    for request in portal.mock.recorded:
        header = etree.fromstring(request["body"].encode()).find(
            "{http://schemas.xmlsoap.org/soap/envelope/}Header"
        )
        assert header is not None
        headers.append(header)
    ids = [h.findtext(f"{XROAD}id") for h in headers]
    assert len(set(ids)) == len(ids) == 3
    first = headers[0]
    assert first.findtext(f"{XROAD}protocolVersion") == "4.0"
    assert first.findtext(f"{XROAD}issue") == "000.00.00.H26-241120-0001"
    assert first.findtext(f"{XROAD}userId") == "tthc-gateway"
    client = first.find(f"{XROAD}client")
    assert client is not None
    assert client.get(f"{IDS}objectType") == "SUBSYSTEM"
    assert [
        client.findtext(f"{IDS}{n}")
        for n in ("xRoadInstance", "memberClass", "memberCode", "subsystemCode")
    ] == ["VN", "GOV", "000.00.00.H26", "TTHC"]
    services = [h.findtext(f"{XROAD}service/{IDS}serviceCode") for h in headers]
    assert services == ["TraCuuHoSo", "DongBoHoSoMC", "LayDanhSachTTHC"]


def test_rest_session_is_reused_across_calls_and_threads(
    transport: str, rest_portal: PortalHarness
) -> None:
    client = rest_portal.client
    errors: list[BaseException] = []

    def lookup() -> None:
        try:
            client.find_dossier("000.00.00.H26-241120-0001")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=lookup) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert client.logins == 1  # type: ignore[union-attr]
    logins = [r for r in rest_portal.mock.recorded if r["path"] == "/rest/login"]
    assert len(logins) == 1


def test_business_refusal_is_permanent(portal: PortalHarness) -> None:
    """A sync the portal refuses (here: 07 after a concurrent change) is PortalRejected."""
    record = sample_dossier()
    portal.client.sync_dossier(record)
    # another writer moves the dossier to 3 (refused, final) behind the client's back
    portal.mock.store.dossiers[record.dossier_code]["TrangThaiHoSo"] = "3"
    with pytest.raises(IllegalTransition):
        portal.client.sync_dossier(replace(record, status=DossierStatus.IN_PROCESS))
    # the portal's own 07 (the check raced): simulate by a stale caller status
    portal.mock.store.dossiers[record.dossier_code]["TrangThaiHoSo"] = "2"
    original = portal.client.find_dossier

    def stale_lookup(code: str, *, context: CallContext = CONTEXT) -> object:
        found = original(code, context=context)
        portal.mock.store.dossiers[record.dossier_code]["TrangThaiHoSo"] = "3"
        return found

    portal.client.find_dossier = stale_lookup  # type: ignore[method-assign,assignment]
    with pytest.raises(PortalRejected) as caught:
        portal.client.sync_dossier(replace(record, status=DossierStatus.IN_PROCESS))
    assert caught.value.portal_code == "07"
    assert not caught.value.transient


def test_lookup_reads_back_every_field_including_empty_and_nested_ones(
    portal: PortalHarness,
) -> None:
    record = sample_dossier(
        documents=(
            SubmittedDocument("T1", "Tờ khai.pdf", "", "", deleted=True, reused=True),
            SubmittedDocument("T2", "Ảnh.jpg", "TP02", "https://motcua.hanoi.gov.vn/f/2.jpg"),
        ),
        fees=(Fee("Lệ phí hộ tịch", "LP01", FeeCollection.ONLINE, 8000, FeeKind.CHARGE),),
        supplements=(
            SupplementRequest(
                "BS1",
                "Cán bộ A",
                "Bổ sung bản sao",
                VN_MORNING,
                SupplementState.WAITING,
                new_due_at=VN_MORNING,
            ),
        ),
        results=(ResultDocument("Giấy khai sinh", "G1", ""),),
        note="Ghi chú",
        owner_identifiers=(
            OwnerIdentifier(OwnerIdentifierKind.PERSONAL_ID, "001203001234"),
            OwnerIdentifier(OwnerIdentifierKind.PASSPORT, "C1234567"),
        ),
    )
    portal.client.sync_dossier(record)
    assert portal.client.find_dossier(record.dossier_code) == record
