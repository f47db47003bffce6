"""The port the gateway calls the National Population Database through (a Protocol).

:class:`~adapters.population.client.PopulationClient` (SOAP, ``direct`` or ``lgsp``
authentication) implements it; the composition root builds that one, and tests may pass
any other object with the same methods (a fake database). The flows depend on this
Protocol, never on the client.

Errors (all from :mod:`gateway.domain.errors`): ``InvalidInput`` (a bad field, named)
before anything is sent; ``UpstreamTimeout`` / ``UpstreamUnavailable`` (transient) and
``UpstreamRejected`` / ``UpstreamMalformed`` (permanent) after. A citizen not found is
``None``, never an error.
"""

from __future__ import annotations

from typing import Protocol

from adapters.http import NO_CONTEXT, CallContext
from adapters.population.records import Citizen, CitizenQuery, Verification


class PopulationDatabase(Protocol):
    def lookup(self, query: CitizenQuery, context: CallContext = NO_CONTEXT) -> Citizen | None:
        """``TraCuuThongTinCongDan``: the citizen, or None when not found."""
        ...

    def verify(self, query: CitizenQuery, context: CallContext = NO_CONTEXT) -> Verification:
        """``XacThucThongTinCongDan``: whether the given data match a citizen."""
        ...
