"""The gateway's error tree: one place, so every layer raises the same types.

Every error the gateway raises on purpose derives from :class:`GatewayError`.
Each carries a short machine ``code`` and a human ``detail``, and knows the
HTTP status it maps to when it reaches the API as an RFC 7807 problem, and
whether the messaging layer should retry it (``transient``) or park it.

    GatewayError
    ├── InvalidInput                  400  bad identifier, body, argument (edge validation)
    │   └── IdentifierError           400  an identifier that does not parse; names the part
    ├── ContractViolation             422  a message breaks a partner's or our contract
    │   └── IllegalTransition         422  a dossier status change the one-stop process forbids
    ├── AuthenticationFailed          401  no or wrong credentials (never says which keys exist)
    ├── PermissionDenied              403  authenticated, but without the scope
    ├── NotFound                      404  no such message, dossier, payment, ...
    ├── Conflict                      409  state forbids it (already confirmed, ...)
    ├── SignatureInvalid              --   an envelope or callback signature refused (reason code)
    ├── ConfigError                   --   invalid configuration; stops start-up
    └── UpstreamError                 502  a partner failed
        ├── UpstreamTimeout           504  no answer within the deadline          (transient)
        ├── UpstreamUnavailable       503  connection refused, 5xx, circuit open  (transient)
        ├── UpstreamRejected          502  the partner refused the request        (permanent)
        └── UpstreamMalformed         502  the answer breaks the partner's contract (permanent)

Rules: ``detail`` never contains secrets or personal data in clear; callers put
identifiers through :func:`gateway.logging.mask_value` first if they must.
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "gateway_error"
    transient: ClassVar[bool] = False

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field

    def __str__(self) -> str:
        return self.detail


class InvalidInput(GatewayError):
    status = 400
    code = "invalid_input"


class IdentifierError(InvalidInput, ValueError):
    """An identifier that does not parse. The message names the wrong part."""

    code = "invalid_identifier"


class ContractViolation(GatewayError):
    status = 422
    code = "contract_violation"


class IllegalTransition(ContractViolation):
    code = "illegal_status_transition"


class AuthenticationFailed(GatewayError):
    status = 401
    code = "unauthenticated"


class PermissionDenied(GatewayError):
    status = 403
    code = "forbidden"


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class Conflict(GatewayError):
    status = 409
    code = "conflict"


class SignatureInvalid(GatewayError):
    """A signature refused. ``reason`` is a stable code (e.g. ``bad_signature``)."""

    status = 401
    code = "signature_invalid"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class ConfigError(GatewayError):
    """Invalid configuration. ``detail`` names the key and the source, never the value of a secret."""

    code = "config_error"


class UpstreamError(GatewayError):
    """A partner failed. ``partner`` names it (portal, payment, population, warehouse, city)."""

    status = 502
    code = "upstream_error"
    #: False when the call was refused before it was made (an open circuit): no attempt spent
    attempted: ClassVar[bool] = True
    #: seconds after which trying again makes sense, when the error knows (an open circuit)
    retry_after: float | None = None

    def __init__(self, partner: str, detail: str) -> None:
        super().__init__(f"{partner}: {detail}")
        self.partner = partner


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"
    transient = True


class UpstreamUnavailable(UpstreamError):
    status = 503
    code = "upstream_unavailable"
    transient = True


class UpstreamRejected(UpstreamError):
    code = "upstream_rejected"


class UpstreamMalformed(UpstreamError):
    code = "upstream_malformed"
