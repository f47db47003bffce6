"""RFC 7807 problems: every error the API answers is built here.

Rules:
- Every error is ``application/problem+json`` with ``type``, ``title``, ``status``,
  ``detail``, ``instance`` (the path), ``correlationId``; ``code`` is the stable machine
  code; validation errors add ``errors[]`` ({field, message}); upstream failures add
  ``partner``.
- Messages never echo the offending value (it may be a CCCD number or a name), only
  where and why; a 500 never shows internals, the traceback goes to the log.
- ``type`` is ``{PROBLEM_BASE}/{code with - for _}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from jsonschema.exceptions import ValidationError

from gateway.domain.jsonbytes import compact_json

PROBLEM_BASE = "https://tthc-gateway.hanoi.gov.vn/problems"
PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def problem_body(
    status: int,
    *,
    code: str | None,
    detail: str | None,
    instance: str | None,
    correlation_id: str | None,
    errors: Sequence[FieldError] = (),
    partner: str | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    try:
        default_title = HTTPStatus(status).phrase
    except ValueError:
        default_title = "Error"
    body: dict[str, Any] = {
        "type": f"{PROBLEM_BASE}/{code.replace('_', '-')}" if code else "about:blank",
        "title": title or default_title,
        "status": status,
    }
    if detail:
        body["detail"] = detail[:2000]
    if instance:
        body["instance"] = instance[:2000]
    if code:
        body["code"] = code
    if correlation_id:
        body["correlationId"] = correlation_id
    if partner:
        body["partner"] = partner
    if errors:
        body["errors"] = [e.as_json() for e in errors[:100]]
    return body


def encode(body: dict[str, Any]) -> bytes:
    """UTF-8 JSON; text that is not Unicode (a lone surrogate in a path or a property
    name) is sent escaped rather than failing the answer."""
    try:
        return compact_json(body)
    except UnicodeEncodeError:
        return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")


# ---- value-free descriptions of JSON Schema errors -------------------------------------


def _path(prefix: str, parts: Iterable[Any]) -> str:
    out = prefix
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def describe(error: ValidationError) -> str:
    """Why ``error`` failed, without echoing the instance value."""
    keyword = str(error.validator)
    expected: Any = error.validator_value
    messages = {
        "pattern": f"does not match the pattern {expected}",
        "maxLength": f"is longer than {expected} characters",
        "minLength": f"is shorter than {expected} characters",
        "maximum": f"is greater than {expected}",
        "minimum": f"is less than {expected}",
        "maxItems": f"has more than {expected} items",
        "minItems": f"has fewer than {expected} items",
        "enum": f"is not one of {expected}",
        "type": f"is not of type {expected}",
        "format": f"is not a valid {expected}",
        "oneOf": "does not match exactly one of the allowed forms",
        "anyOf": "does not match any of the allowed forms",
        "not": "is not allowed in this combination",
    }
    if keyword in messages:
        return messages[keyword]
    if keyword in {"required", "additionalProperties", "dependencies"}:
        return str(error.message)  # names properties, never values
    return f"fails the {keyword} rule"


def field_errors(errors: Iterable[ValidationError], prefix: str) -> list[FieldError]:
    """One :class:`FieldError` per schema error; ``required`` and extra properties name the child."""
    found: list[FieldError] = []
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        where = _path(prefix, error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [p for p in error.validator_value if p not in error.instance]
            for name in missing:
                found.append(FieldError(f"{where}.{name}", "is required"))
            continue
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set((error.schema or {}).get("properties", {}))
            for name in sorted(set(error.instance) - allowed):
                found.append(FieldError(f"{where}.{name}", "is not a known field"))
            continue
        found.append(FieldError(where, describe(error)))
    return found
