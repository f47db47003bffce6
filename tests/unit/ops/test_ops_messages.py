"""Finding and inspecting messages: filters, masking, audited reveal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.errors import InvalidInput, NotFound
from gateway.ops.messages import MessageFilter, parse_time, scrub, show_message
from gateway.ops.search import list_messages
from gateway.testing.partners import CITIZEN
from gateway.testing.scenario import Scenario

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def test_times_are_iso_or_ages() -> None:
    assert parse_time("2h", name="since", now=NOW) == NOW - timedelta(hours=2)
    assert parse_time("2026-11-26T10:00", name="since") == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert parse_time("2026-11-26T10:00+07:00", name="x").utcoffset() == timedelta(hours=7)
    with pytest.raises(InvalidInput, match="until: 'yesterday'"):
        parse_time("yesterday", name="until")


def test_filter_pairs_name_what_is_wrong() -> None:
    flt = MessageFilter.from_pairs(
        ["type=portal.dossier.sync", "since=1d", "error=timeout"], now=NOW
    )
    assert flt.type == "portal.dossier.sync" and flt.since == NOW - timedelta(days=1)
    assert flt.describe()["error_contains"] == "timeout"
    with pytest.raises(InvalidInput, match="unknown key 'colour'"):
        MessageFilter.from_pairs(["colour=red"])
    with pytest.raises(InvalidInput, match="expected KEY=VALUE"):
        MessageFilter.from_pairs(["partner"])
    with pytest.raises(InvalidInput, match="since must be before until"):
        MessageFilter.from_pairs(["since=1h", "until=2h"], now=NOW)


def test_list_filters_by_status_dossier_and_error(scenario: Scenario) -> None:
    scenario.partner.failing = "contract"
    bad = scenario.submit(2, prefix="BAD")
    scenario.drain(until=lambda: len(scenario.ctx.transport.list_parked()) == 2)
    scenario.partner.failing = None
    good = scenario.submit(3, prefix="GOOD")
    scenario.drain(until=lambda: len(scenario.partner.received) == 3)
    store = scenario.ctx.store
    parked = list_messages(store, MessageFilter(status="parked"))
    assert {v.message_id for v in parked} == set(bad)
    assert {v.message_id for v in list_messages(store, MessageFilter(status="delivered"))} == set(
        good
    )
    one = list_messages(store, MessageFilter(dossier_code="GOOD-0002"))
    assert [v.message_id for v in one] == [good[1]]
    by_error = list_messages(store, MessageFilter(error_contains="contract_violation"))
    assert {v.message_id for v in by_error} == set(bad)
    upper = list_messages(store, MessageFilter(error_contains="CONTRACT_VIOLATION"))
    assert {v.message_id for v in upper} == set(bad)
    assert list_messages(store, MessageFilter(error_contains="contract%")) == []
    assert len(list_messages(store, MessageFilter(), limit=2)) == 2
    assert list_messages(store, MessageFilter(since=datetime.now(UTC) + timedelta(hours=1))) == []


def test_show_masks_personal_data_unless_revealed_and_a_reveal_is_audited(
    scenario: Scenario,
) -> None:
    (message_id,) = scenario.submit(1)
    store, audit = scenario.ctx.store, scenario.ctx.audit
    masked = show_message(store, audit, message_id, actor="os:night-shift")
    text = str(masked.to_json())
    assert CITIZEN["SoGiayToChuHoSo"] not in text and CITIZEN["ChuHoSo"] not in text
    assert masked.body["MaHoSo"] == "000.00.00.H26-261127-0001"
    assert not masked.body_revealed and audit.list() == []

    with pytest.raises(InvalidInput, match="reason"):
        show_message(store, audit, message_id, actor="os:night-shift", reveal=True)
    assert audit.list() == []

    clear = show_message(
        store, audit, message_id, actor="os:night-shift", reveal=True, reason="citizen called"
    )
    assert clear.body["SoGiayToChuHoSo"] == CITIZEN["SoGiayToChuHoSo"]
    (entry,) = audit.list(action="reveal")
    assert (entry.actor, entry.target, entry.reason) == (
        "os:night-shift", f"message:{message_id}", "citizen called",
    )  # fmt: skip
    assert clear.audit_id == entry.id


def test_show_unknown_message_is_not_found(scenario: Scenario) -> None:
    with pytest.raises(NotFound, match="no-such"):
        show_message(scenario.ctx.store, scenario.ctx.audit, "no-such", actor="os:x")


def test_scrub_keeps_message_ids_but_masks_citizen_ids() -> None:
    text = "replayed as a1734df0-cc3e-58cd-a006-435048226675 for 001090012345"
    assert scrub(text) == "replayed as a1734df0-cc3e-58cd-a006-435048226675 for 001******345"
