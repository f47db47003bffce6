"""The port the gateway calls the electronic data warehouse through (a Protocol).

:class:`~adapters.warehouse.client.WarehouseClient` (JSON over POST) implements it; the
composition root builds that one, and tests may pass any other object with the same
methods. The flows depend on this Protocol, never on the client.

Errors (all from :mod:`gateway.domain.errors`): ``InvalidInput`` before anything is
sent; ``UpstreamTimeout`` / ``UpstreamUnavailable`` (transient, ``errorCode`` 99 too) and
:class:`~adapters.warehouse.wire.WarehouseRefused` (``UpstreamRejected``; ``errorCode`` 2
as ``WarehouseNotFound``) / ``UpstreamMalformed`` (permanent, a file over
``max_file_bytes`` included) after.
"""

from __future__ import annotations

from typing import Protocol

from adapters.http import NO_CONTEXT, CallContext
from adapters.warehouse.records import DocumentList, DocumentQuery


class DataWarehouse(Protocol):
    def find_results(self, query: DocumentQuery, context: CallContext = NO_CONTEXT) -> DocumentList:
        """``GetKetQuaGiayTo``: the owner's results of the requested kinds (maybe none)."""
        ...

    def fetch_file(self, agency_code: str, path: str, context: CallContext = NO_CONTEXT) -> bytes:
        """``GetGiayToByUrl``: one attached file, decoded."""
        ...
