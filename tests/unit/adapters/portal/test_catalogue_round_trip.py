"""Every procedure the portal mock serves reads into a record and back to the same wire form.

(The mock's catalogue is written from the contract independently of the adapter.)
"""

from __future__ import annotations

import pytest

from adapters.portal.catalogue import procedure_from_portal, procedure_to_portal
from mocks.portal import catalogue

CODES = [entry["MATTHC"] for entry in catalogue.summaries()]


@pytest.mark.parametrize("code", CODES)
def test_procedure_round_trip(code: str) -> None:
    served = catalogue.procedure(code)
    assert served is not None
    record = procedure_from_portal(served)
    wire = procedure_to_portal(record)
    assert procedure_from_portal(wire) == record
    assert wire == {k: v for k, v in served.items() if v not in (None, [])} | {
        k: v for k, v in wire.items() if v == []
    }
