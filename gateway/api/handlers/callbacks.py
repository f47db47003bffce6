"""Inbound callbacks: dossiers submitted on the portal, payment confirmations.

The portal's push is authenticated before it gets here (``PortalPush`` security, which
checks its nonce without spending it). Its nonce is spent here, after connexion has
validated the body, and released if the push is not accepted (an exception: a refusal or
a 5xx), so only an accepted push makes a retry with the same nonce a replay. The
payment confirm is authenticated by its ``MaXacThuc`` in the port, and here by the
optional source allowlist (a refused source is a ``403`` problem).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from connexion.context import request
from starlette.concurrency import run_in_threadpool

from gateway.api.handlers._common import JsonAnswer, answer, call_port
from gateway.api.runtime import call_context, require, services
from gateway.domain.errors import PermissionDenied


async def portal_dossier_submitted(body: dict[str, Any]) -> JsonAnswer:
    port = require(services().callbacks, "portal dossier callback")
    verifier = require(services().portal_push, "portal push authentication")
    nonce = request.headers.get("X-Portal-Nonce", "")
    await run_in_threadpool(verifier.spend, nonce)  # the body is valid by now
    try:
        accepted = await call_port(port.portal_dossier_submitted, body)
    except BaseException:
        await run_in_threadpool(verifier.release, nonce)  # not accepted: the portal may retry
        raise
    return answer(accepted, 202)


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
    port = require(services().callbacks, "payment callback")
    allowlist = tuple(services().payment_callback_allowlist)
    if not _source_allowed(call_context().client_ip, allowlist):
        raise PermissionDenied("This source address may not send payment confirmations.")
    return answer(await call_port(port.payment_confirmed, body), 200)
