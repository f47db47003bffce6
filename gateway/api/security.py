"""Authentication of API calls: connexion security functions named in the contract.

Rules:
- ``ApiKey``: the presented key is hashed (SHA-256) and compared with EVERY configured
  digest using :func:`hmac.compare_digest`, without stopping at a match, so timing does
  not tell which keys exist. Missing and wrong keys get the same ``401`` answer.
- Scopes come from the operation's ``x-scopes`` (all required); a key without one of
  them is ``403``, naming the scopes needed, never the key's own.
- ``PortalPush``: the :class:`PortalPushVerifier` port checks signature, timestamp and
  nonce over the raw body buffered (byte-exact) by the outer middleware; it may use the
  database, so it runs in a worker thread. It only checks the nonce: the handler spends
  it once the body is valid (``gateway.api.handlers.callbacks``).
- The token info handed to handlers is ``{"caller": name, "uid": name, "scopes": [...]}``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from connexion.lifecycle import ConnexionRequest
from starlette.concurrency import run_in_threadpool

from gateway.api.runtime import current_runtime, require
from gateway.api.services import ApiKey
from gateway.domain.errors import AuthenticationFailed, PermissionDenied, SignatureInvalid

UNAUTHENTICATED_DETAIL = "Missing or invalid credentials."
BODY_EXTENSION = "tthc_body"
PORTAL_PUSH_HEADERS = ("X-Portal-Timestamp", "X-Portal-Nonce", "X-Portal-Signature")


class KeyRing:
    """The configured API keys, checked in constant time over all of them."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self._keys = tuple(keys)

    def authenticate(self, presented: str) -> ApiKey | None:
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()
        match: ApiKey | None = None
        for key in self._keys:
            if hmac.compare_digest(digest, key.key_sha256):
                match = key
        return match


def operation_id_of(request: ConnexionRequest) -> str | None:
    routing = request.scope.get("extensions", {}).get("connexion_routing", {})
    operation_id = routing.get("operation_id")
    return operation_id if isinstance(operation_id, str) else None


def api_key_info(
    apikey: str, required_scopes: Sequence[str] | None = None, request: Any = None
) -> Mapping[str, Any]:
    """connexion ``x-apikeyInfoFunc`` of the ``ApiKey`` scheme."""
    runtime = current_runtime()
    key = runtime.key_ring.authenticate(apikey)
    if key is None:
        raise AuthenticationFailed(UNAUTHENTICATED_DETAIL)
    needed = set(required_scopes or ())
    if isinstance(request, ConnexionRequest):
        operation_id = operation_id_of(request)
        if operation_id is not None:
            needed |= runtime.operation_scopes.get(operation_id, frozenset())
    missing = needed - key.scopes
    if missing:
        raise PermissionDenied(f"This operation needs the scope(s): {', '.join(sorted(needed))}.")
    return {"caller": key.name, "uid": key.name, "scopes": sorted(key.scopes)}


def raw_body(request: ConnexionRequest) -> bytes:
    body = request.scope.get("extensions", {}).get(BODY_EXTENSION)
    return body if isinstance(body, bytes) else b""


async def portal_push_info(signature: str, request: Any = None) -> Mapping[str, Any]:
    """connexion ``x-apikeyInfoFunc`` of the ``PortalPush`` scheme (HMAC over the body)."""
    verifier = require(current_runtime().services.portal_push, "portal push authentication")
    if not isinstance(request, ConnexionRequest):
        raise SignatureInvalid("missing_header", "The portal push cannot be authenticated.")
    headers = {name: request.headers.get(name, "") for name in PORTAL_PUSH_HEADERS}
    await run_in_threadpool(verifier.check, headers, raw_body(request))
    return {"caller": "portal", "uid": "portal", "scopes": []}
