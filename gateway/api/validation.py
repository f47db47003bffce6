"""Request validators plugged into connexion: every error names its field and why.

Rules:
- Body and parameter errors are all collected (not only the first) and raised as one
  :class:`RequestInvalid`, which the API answers as a ``400`` problem with ``errors[]``.
- Field names: ``body.DinhDanhCHS[0].SoDinhDanh``, ``query.limit``, ``path.dossierCode``,
  ``header.X-Portal-Nonce``. Messages never echo values (see :func:`problems.describe`).
- Nothing is logged here: a body may carry personal data.
- Every JSON body is parsed by :func:`gateway.api.json_guard.parse_guarded` (nesting
  depth checked before parsing; lone surrogates, control characters, out-of-range and
  non-finite numbers refused after), so no body reaches jsonschema or a handler without it.
- Bodies take a compiled fast path first (:mod:`gateway.api.fast_validation`);
  jsonschema stays the authority: when the fast check refuses, or fails in any way, the
  jsonschema report decides, so the verdict and the ``errors[]`` are jsonschema's.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from functools import partial
from typing import Any

from connexion.json_schema import Draft4RequestValidator
from connexion.validators import (
    VALIDATOR_MAP,
    JSONRequestBodyValidator,
    ParameterValidator,
)
from jsonschema import Draft4Validator
from starlette.types import Scope

from gateway.api.fast_validation import Cache, built_once, fast_accepts
from gateway.api.json_guard import JsonRefused, parse_guarded
from gateway.api.problems import FieldError, field_errors
from gateway.domain.errors import InvalidInput

_VALIDATORS: Cache = {}  # jsonschema validators, one per schema object


class RequestInvalid(InvalidInput):
    """The request breaks the contract; ``errors`` says where and why."""

    code = "invalid_input"

    def __init__(self, detail: str, errors: Sequence[FieldError]) -> None:
        super().__init__(detail, field=errors[0].field if errors else None)
        self.errors = list(errors)


class FieldReportingBodyValidator(JSONRequestBodyValidator):  # type: ignore[misc]
    """JSON body validation that reports every failing field."""

    @property
    def _validator(self) -> Any:
        """Built once per schema (connexion makes a validator object for every request)."""
        return built_once(
            self._schema,
            lambda: Draft4RequestValidator(
                self._schema, format_checker=Draft4Validator.FORMAT_CHECKER
            ),
            _VALIDATORS,
        )

    async def _parse(self, stream: AsyncGenerator[bytes, None], scope: Scope) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        if not raw:
            return None
        try:
            return parse_guarded(raw, self._encoding)
        except JsonRefused as refused:
            raise RequestInvalid(refused.detail, refused.errors) from None

    def _validate(self, body: Any) -> dict[str, Any] | None:
        if body is None and not self._nullable:
            raise RequestInvalid(
                "The request body is required.", [FieldError("body", "is required")]
            )
        if fast_accepts(self._schema, body):
            return None
        errors = field_errors(self._validator.iter_errors(body), "body")
        if errors:
            raise RequestInvalid("The request body is invalid.", errors)
        return None  # the fast validator was stricter than the contract


class FieldReportingParameterValidator(ParameterValidator):  # type: ignore[misc]
    """Path, query and header validation that reports every failing parameter."""

    def validate_request(self, request: Any) -> None:
        errors: list[FieldError] = []
        if self.strict_validation:
            extra = self.validate_query_parameter_list(
                request, security_params=self.security_query_params
            )
            errors.extend(
                FieldError(f"query.{name}", "is not a known parameter") for name in sorted(extra)
            )
        for location in ("query", "path", "header", "cookie"):
            for param in self.parameters.get(location, []):
                where = f"{location}.{param['name']}"
                value = _value_of(request, location, param["name"])
                if value is None:
                    if param.get("required"):
                        errors.append(FieldError(where, "is required"))
                    continue
                schema = param.get("schema", param)
                validator = built_once(
                    schema,
                    partial(Draft4Validator, schema, format_checker=Draft4Validator.FORMAT_CHECKER),
                    _VALIDATORS,
                )
                for error in field_errors(validator.iter_errors(value), where):
                    errors.append(FieldError(where, error.message))
        if errors:
            raise RequestInvalid("The request parameters are invalid.", errors)


def _value_of(request: Any, location: str, name: str) -> Any:
    if location == "query":
        return request.query_params.get(name)
    if location == "path":
        return request.path_params.get(name.replace("-", "_"))
    if location == "header":
        return request.headers.get(name)
    return request.cookies.get(name)


def validator_map() -> dict[str, Any]:
    """connexion's ``validator_map`` with the field-reporting validators."""
    body = dict(VALIDATOR_MAP["body"])
    body["*/*json"] = FieldReportingBodyValidator
    return {
        "parameter": FieldReportingParameterValidator,
        "body": type(VALIDATOR_MAP["body"])(body),
        "response": VALIDATOR_MAP["response"],
    }
