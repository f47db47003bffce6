"""Document reuse: search the data warehouse, fetch one file."""

from __future__ import annotations

from typing import Any

from gateway.api.handlers._common import JsonAnswer, answer, call_port
from gateway.api.runtime import require, services


async def search_documents(body: dict[str, Any]) -> JsonAnswer:
    port = require(services().documents, "document search")
    return answer(await call_port(port.search, body), 200)


async def fetch_document(body: dict[str, Any]) -> JsonAnswer:
    port = require(services().documents, "document fetch")
    return answer(await call_port(port.fetch, body), 200)
