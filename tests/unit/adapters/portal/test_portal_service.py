"""The binding-independent operations, over a scripted binding (no network, no mock)."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from portal_strategies import sample_dossier, sample_progress

from adapters.http import CallContext
from adapters.portal import translate
from adapters.portal.answers import PortalAnswer
from adapters.portal.config import PortalConfig
from adapters.portal.service import DossierNotOnPortal, Endpoint, PortalService
from gateway.domain.errors import ConfigError, UpstreamMalformed, UpstreamUnavailable
from gateway.domain.status import DossierStatus


class ScriptedPortal(PortalService):
    """Answers each call with the next scripted answer; remembers what was asked."""

    def __init__(self, *script: PortalAnswer) -> None:
        super().__init__(
            PortalConfig(
                url="https://portal.example",
                agency_code="000.00.00.H26",
                username="u",
                password="p",
            )
        )
        self.script = deque(script)
        self.calls: list[tuple[str, dict[str, Any], CallContext]] = []

    def _call(
        self,
        service: str,
        params: dict[str, Any],
        *,
        endpoint: Endpoint,
        context: CallContext,
        personal: bool,
        idempotent: bool,
    ) -> PortalAnswer:
        self.calls.append((service, params, context))
        return self.script.popleft()


def on_portal(status: DossierStatus = DossierStatus.ACCEPTED) -> PortalAnswer:
    return PortalAnswer("00", "ok", [translate.dossier_to_portal(sample_dossier(status=status))])


def test_sync_flips_is_updating_once_when_another_writer_raced() -> None:
    portal = ScriptedPortal(
        PortalAnswer("00", "none", []), PortalAnswer("06", "exists"), PortalAnswer("00", "ok")
    )
    outcome = portal.sync_dossier(sample_dossier(), context=CallContext(correlation_id="c1"))
    assert outcome.updated is True
    assert [(c[0], c[1].get("isUpdating")) for c in portal.calls] == [
        ("TraCuuHoSo", None),
        ("DongBoHoSoMC", "False"),
        ("DongBoHoSoMC", "True"),
    ]
    assert all(c[2].dossier_code == "000.00.00.H26-241120-0001" for c in portal.calls)
    assert all(c[2].correlation_id == "c1" for c in portal.calls)


def test_sync_does_not_flip_twice() -> None:
    portal = ScriptedPortal(
        on_portal(), PortalAnswer("05", "unknown"), PortalAnswer("06", "exists")
    )
    with pytest.raises(Exception, match="error_code 06"):
        portal.sync_dossier(sample_dossier())
    assert len(portal.calls) == 3


def test_lookup_answers_are_checked() -> None:
    other = translate.dossier_to_portal(sample_dossier(dossier_code="000.00.00.H26-241120-0002"))
    with pytest.raises(UpstreamMalformed, match="another dossier"):
        ScriptedPortal(PortalAnswer("00", "", [other])).find_dossier("000.00.00.H26-241120-0001")
    with pytest.raises(UpstreamMalformed, match="more than one"):
        ScriptedPortal(PortalAnswer("00", "", [other, other])).find_dossier(
            "000.00.00.H26-241120-0002"
        )
    broken = {**other, "NgayHenTra": "2024"}
    with pytest.raises(UpstreamMalformed, match=r"result\[0\]\.NgayHenTra"):
        ScriptedPortal(PortalAnswer("00", "", [broken])).find_dossier("000.00.00.H26-241120-0002")
    assert (
        ScriptedPortal(PortalAnswer("05", "none")).find_dossier("000.00.00.H26-241120-0002") is None
    )
    with pytest.raises(UpstreamUnavailable, match="error_code 99"):
        ScriptedPortal(PortalAnswer("99", "busy")).find_dossier("000.00.00.H26-241120-0002")


def test_progress_for_unknown_dossier_on_the_portal_is_transient() -> None:
    portal = ScriptedPortal(on_portal(), PortalAnswer("05", "unknown"))
    with pytest.raises(DossierNotOnPortal) as caught:
        portal.push_progress(sample_progress(status=DossierStatus.IN_PROCESS))
    assert caught.value.transient
    portal = ScriptedPortal(on_portal(), PortalAnswer("00", "done"))
    assert portal.push_progress(sample_progress(status=DossierStatus.IN_PROCESS)) == "done"


def test_config_is_checked_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"agency\.code"):
        PortalConfig(url="https://p", agency_code="H26", username="u", password="p").check()
    with pytest.raises(ConfigError, match=r"adapters\.portal\.username"):
        PortalConfig(url="https://p", agency_code="000.00.00.H26").check()
    PortalConfig(url="https://p", agency_code="000.00.00.H26", binding="soap").check()
    assert "secret" not in repr(
        PortalConfig(url="https://p", agency_code="000.00.00.H26", password="secret")
    )
