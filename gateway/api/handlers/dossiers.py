"""Dossier operations: sync a dossier, push progress (both queued), read the portal's status.

The queued ones call their flow function on the event loop (it parses and signs there,
CPU only) with a fresh unit of work, and await the commit; no thread waits for the store.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway.api.handlers._common import JsonAnswer, accepted, answer, request_key
from gateway.api.runtime import correlation_id, require, services
from gateway.flows import dossiers
from gateway.flows.dossiers import QueueDossierSync, QueueProgress


async def sync_dossier(body: dict[str, Any]) -> Response:
    flows = require(services().dossiers, "dossier sync")
    command = QueueDossierSync(body, correlation_id(), request_key())
    queued = dossiers.queue_dossier_sync(command, flows.units_of_work(), flows.signer)
    return accepted(await asyncio.wrap_future(queued))


async def push_progress(dossier_code: str, body: dict[str, Any]) -> Response:
    flows = require(services().dossiers, "dossier progress")
    command = QueueProgress(dossier_code, body, correlation_id(), request_key())
    queued = dossiers.queue_progress(command, flows.units_of_work(), flows.signer)
    return accepted(await asyncio.wrap_future(queued))


async def portal_status(dossier_code: str) -> JsonAnswer:
    flows = require(services().dossiers, "portal status lookup")
    found = await run_in_threadpool(
        dossiers.portal_status, dossier_code, flows.portal, correlation_id()
    )
    return answer(found, 200)
