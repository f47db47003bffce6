"""Exception handlers: every error leaving the API becomes an RFC 7807 problem.

Rules:
- :class:`GatewayError` subclasses map by their ``status`` and ``code``; upstream
  failures keep their ``partner``; validation errors their ``errors[]``.
- connexion's and Starlette's own errors (401 from the security layer, 404, 405, 415,
  parameter type errors) are rewritten into the same shape.
- A 5xx that is not a partner's failure or a "not configured" never shows its detail:
  the problem says to quote the correlation id, the log has the exception.
- Missing and wrong credentials get the same detail.
- The store unavailable (:func:`gateway.store.outage.is_store_unavailable`: the database
  down or unreachable, a lost connection, a pool timeout, a write future failing for that
  reason) is ``503 store_unavailable`` with ``Retry-After``, never a 500; its detail is
  fixed (no exception text, host or user names); the log gets one warning line per
  request, without a traceback.
"""

from __future__ import annotations

import re
from typing import Any

from connexion.exceptions import NonConformingResponse, ProblemException, TypeValidationError
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from gateway.api.problems import PROBLEM_MEDIA_TYPE, FieldError, encode, problem_body
from gateway.api.runtime import NotConfigured, correlation_id
from gateway.api.security import UNAUTHENTICATED_DETAIL
from gateway.api.validation import RequestInvalid
from gateway.domain.errors import GatewayError, UpstreamError
from gateway.logging import get_logger, scrub_text
from gateway.store.outage import describe, is_store_unavailable

log = get_logger(__name__)

INTERNAL_DETAIL = "An unexpected error occurred; quote the correlation id to the operators."
STORE_UNAVAILABLE_DETAIL = (
    "The gateway's store is temporarily unavailable; retry after the seconds in Retry-After "
    "(with the same Idempotency-Key)."
)
RETRY_AFTER_SECONDS = 3
CODES_BY_STATUS = {
    400: "invalid_input",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    500: "internal_error",
}
_TYPE_ERROR = re.compile(r"for (query|path|header|cookie|formData) parameter '([^']+)'")


def _path(request: ConnexionRequest) -> str | None:
    path = request.scope.get("path")
    return path if isinstance(path, str) else None


def problem_response(
    request: ConnexionRequest,
    status: int,
    *,
    code: str | None,
    detail: str | None,
    errors: list[FieldError] | None = None,
    partner: str | None = None,
    headers: dict[str, str] | None = None,
) -> ConnexionResponse:
    body = problem_body(
        status,
        code=code,
        detail=detail,
        instance=_path(request),
        correlation_id=correlation_id() or None,
        errors=errors or (),
        partner=partner,
    )
    return ConnexionResponse(
        status_code=status,
        mimetype=PROBLEM_MEDIA_TYPE,
        body=encode(body),
        headers=dict(headers or {}),
    )


def gateway_error(request: ConnexionRequest, error: Exception) -> ConnexionResponse:
    assert isinstance(error, GatewayError)
    status = error.status
    partner = error.partner if isinstance(error, UpstreamError) else None
    if status >= 500 and partner is None and not isinstance(error, NotConfigured):
        log.error("gateway_error", code=error.code, detail=scrub_text(error.detail), exc_info=error)
        return problem_response(request, 500, code="internal_error", detail=INTERNAL_DETAIL)
    if isinstance(error, RequestInvalid):
        errors = error.errors
    else:
        errors = [FieldError(error.field, error.detail)] if error.field else []
    log.info("request_refused", status=status, code=error.code, partner=partner)
    return problem_response(
        request, status, code=error.code, detail=error.detail, errors=errors, partner=partner
    )


def http_error(request: ConnexionRequest, error: Exception) -> ConnexionResponse:
    assert isinstance(error, HTTPException)
    status = error.status_code
    code = CODES_BY_STATUS.get(status)
    detail = error.detail if isinstance(error.detail, str) else None
    errors: list[FieldError] = []
    if isinstance(error, NonConformingResponse) or status >= 500:
        log.error("response_error", status=status, detail=scrub_text(str(detail)))
        return problem_response(request, 500, code="internal_error", detail=INTERNAL_DETAIL)
    if status == 401:
        detail = UNAUTHENTICATED_DETAIL
    elif status == 404:
        detail = "The requested URL is not part of this API."
    elif status == 405:
        detail = f"The method {request.scope.get('method')} is not allowed for this URL."
    elif status == 400 and detail == "RequestBody is required":
        detail = "The request body is required."
        errors.append(FieldError("body", "is required"))
    elif isinstance(error, TypeValidationError) and detail:
        match = _TYPE_ERROR.search(detail)
        if match:
            errors.append(FieldError(f"{match.group(1)}.{match.group(2)}", "has the wrong type"))
    headers: dict[str, str] = {}
    if status == 405 and error.headers:
        headers = {k: v for k, v in error.headers.items() if k.lower() == "allow"}
    log.info("request_refused", status=status, code=code)
    return problem_response(
        request, status, code=code, detail=detail, errors=errors, headers=headers
    )


def store_unavailable(request: ConnexionRequest, error: BaseException) -> ConnexionResponse:
    """``503 store_unavailable`` with ``Retry-After`` (see the module rules)."""
    log.warning("store_unavailable", error=scrub_text(describe(error)))
    return problem_response(
        request,
        503,
        code="store_unavailable",
        detail=STORE_UNAVAILABLE_DETAIL,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def unexpected_error(request: ConnexionRequest, error: Exception) -> ConnexionResponse:
    if isinstance(error, GatewayError):
        return gateway_error(request, error)
    if isinstance(error, HTTPException):
        return http_error(request, error)
    if is_store_unavailable(error):
        return store_unavailable(request, error)
    log.error("unexpected_error", error_type=type(error).__name__, exc_info=error)
    return problem_response(request, 500, code="internal_error", detail=INTERNAL_DETAIL)


HANDLERS: list[tuple[Any, Any]] = [
    (GatewayError, gateway_error),
    (ProblemException, http_error),
    (HTTPException, http_error),
    (Exception, unexpected_error),
]
