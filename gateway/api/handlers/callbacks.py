"""Inbound callbacks: dossiers submitted on the portal, payment confirmations.

The portal's push is authenticated before it gets here (``PortalPush`` security, which
checks its nonce without spending it); its flow spends the nonce in the transaction that
stores the push (``gateway.flows.dossiers.accept_portal_push``), so only an accepted
push makes a retry with the same nonce a replay. The payment confirm is authenticated by
its ``MaXacThuc`` in its flow (``gateway.flows.payments.confirm_payment``), and here by
the optional source allowlist (a refused source is a ``403`` problem).
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from connexion.context import request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway.api.handlers._common import JsonAnswer, accepted, answer
from gateway.api.runtime import call_context, correlation_id, require, services
from gateway.domain.errors import PermissionDenied
from gateway.domain.jsonbytes import compact_json
from gateway.flows.dossiers import AcceptPortalPush, accept_portal_push
from gateway.flows.payments import ConfirmPayment, confirm_payment


async def portal_dossier_submitted(body: dict[str, Any]) -> Response:
    flows = require(services().callbacks, "portal dossier callback")
    nonce = request.headers.get("X-Portal-Nonce", "")
    command = AcceptPortalPush(body, nonce, correlation_id())
    queued = accept_portal_push(command, flows.units_of_work(), flows.signer)
    return accepted(await asyncio.wrap_future(queued))


def _source_allowed(client_ip: str | None, allowlist: tuple[str, ...]) -> bool:
    if not allowlist:
        return True
    if client_ip is None:
        return False
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in allowlist)


async def payment_confirmed(body: dict[str, Any]) -> JsonAnswer:
    flows = require(services().callbacks, "payment callback")
    allowlist = tuple(services().payment_callback_allowlist)
    if not _source_allowed(call_context().client_ip, allowlist):
        raise PermissionDenied("This source address may not send payment confirmations.")
    command = ConfirmPayment(compact_json(body), correlation_id())
    confirmed = await run_in_threadpool(
        confirm_payment, command, flows.units_of_work(), flows.payments
    )
    return answer(confirmed, 200)
