"""The data warehouse client: GetKetQuaGiayTo and GetGiayToByUrl over JSON POST.

Rules: a thin I/O shell over :mod:`adapters.warehouse.wire` and
:class:`~adapters.http.PartnerHttp`. Both operations are idempotent reads on the
synchronous path (retried, bounded). Requests carry identity numbers and answers carry
citizens' documents: recorded with ``personal=True``. A 401 answer is read for its
``errorCode`` (4) instead of being refused blind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from adapters.http import (
    NO_CONTEXT,
    CallContext,
    CircuitBreaker,
    HttpAnswer,
    HttpConfig,
    PartnerHttp,
)
from adapters.warehouse import wire
from adapters.warehouse.records import DocumentList, DocumentQuery
from gateway.domain.errors import ConfigError
from gateway.domain.exchange import ExchangeRecorder

_JSON = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}


@dataclass(frozen=True)
class WarehouseConfig:
    """``http.base_url`` is the warehouse's base (e.g. ``http://127.0.0.1:8090/warehouse``)."""

    http: HttpConfig
    max_file_bytes: int = 10 * 1024 * 1024
    find_path: str = "/GetKetQuaGiayTo"
    fetch_path: str = "/GetGiayToByUrl"

    def __post_init__(self) -> None:
        if self.max_file_bytes <= 0:
            raise ConfigError("adapters.warehouse.max_file_bytes must be positive")
        encoded = (self.max_file_bytes + 2) // 3 * 4 + 2
        if self.http.max_answer_bytes < encoded:
            raise ConfigError(
                "adapters.warehouse: http max_answer_bytes must hold a base64 file of "
                f"max_file_bytes ({encoded} bytes)"
            )


class WarehouseClient:
    """Find an owner's digitised results and fetch their files."""

    def __init__(
        self,
        config: WarehouseConfig,
        recorder: ExchangeRecorder,
        *,
        http: PartnerHttp | None = None,
    ) -> None:
        self.config = config
        self.http = http or PartnerHttp(config.http, recorder)

    @property
    def breaker(self) -> CircuitBreaker:
        return self.http.breaker

    def find_results(self, query: DocumentQuery, context: CallContext = NO_CONTEXT) -> DocumentList:
        """``GetKetQuaGiayTo``: the owner's results of the requested kinds (maybe none)."""
        answer = self._post(wire.FIND, self.config.find_path, wire.find_request(query), context)
        return wire.parse_find_answer(answer.body)

    def fetch_file(self, agency_code: str, path: str, context: CallContext = NO_CONTEXT) -> bytes:
        """``GetGiayToByUrl``: one attached file, decoded, within ``max_file_bytes``."""
        answer = self._post(
            wire.FETCH, self.config.fetch_path, wire.fetch_request(agency_code, path), context
        )
        return wire.parse_fetch_answer(answer.body, self.config.max_file_bytes)

    def _post(
        self, operation: str, path: str, message: dict[str, Any], context: CallContext
    ) -> HttpAnswer:
        return self.http.send(
            "POST",
            path,
            operation=operation,
            body=json.dumps(message, ensure_ascii=False).encode("utf-8"),
            headers=_JSON,
            context=context,
            expect=(200, 401),
            idempotent=True,
            personal=True,
        )
