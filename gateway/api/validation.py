"""Request validators plugged into connexion: every error names its field and why.

Rules:
- Body and parameter errors are all collected (not only the first) and raised as one
  :class:`RequestInvalid`, which the API answers as a ``400`` problem with ``errors[]``.
- Field names: ``body.DinhDanhCHS[0].SoDinhDanh``, ``query.limit``, ``path.dossierCode``,
  ``header.X-Portal-Nonce``. Messages never echo values (see :func:`problems.describe`).
- Nothing is logged here: a body may carry personal data.
- Bodies take a compiled fast path first (fastjsonschema, built once per schema from
  :func:`fast_schema`); jsonschema stays the authority. The fast validator is *sound*: when
  it accepts, connexion's ``Draft4RequestValidator`` (with the draft-4 format checker)
  accepts too. When it refuses, or fails in any way, or the schema could not be compiled,
  the jsonschema report decides, so the verdict and the ``errors[]`` are jsonschema's.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import fastjsonschema
from connexion.json_schema import Draft4RequestValidator
from connexion.validators import (
    VALIDATOR_MAP,
    JSONRequestBodyValidator,
    ParameterValidator,
)
from jsonschema import Draft4Validator
from starlette.types import Scope

from gateway.api.problems import FieldError, field_errors
from gateway.domain.errors import InvalidInput

_VALIDATORS: dict[int, tuple[object, Any]] = {}
_FAST_CHECKS: dict[int, tuple[object, Any]] = {}


def _compiled(
    schema: object, build: Callable[[], Any], cache: dict[int, tuple[object, Any]] = _VALIDATORS
) -> Any:
    """The validator for ``schema``, built once. The specs' schema objects live as long as
    their app, and the entry keeps its schema alive, so an ``id`` is never reused."""
    entry = cache.get(id(schema))
    if entry is None or entry[0] is not schema:
        entry = (schema, build())
        cache[id(schema)] = entry
    return entry[1]


# ---- the fast path: OpenAPI 3.0 body schema -> fastjsonschema (draft-04) ---------------

_DRAFT4 = "http://json-schema.org/draft-04/schema#"
# Copied as they are: fastjsonschema's draft-04 code and jsonschema's agree on them for
# JSON values (``exclusive*`` are read by ``minimum``/``maximum``, in both).
_PLAIN = frozenset(
    {
        "required",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "uniqueItems",
    }
)
# What the translation carries or rewrites; every other keyword jsonschema's draft-4
# request validator evaluates (``$ref`` included) makes the schema jsonschema's alone.
_HANDLED = _PLAIN | {
    "type",
    "enum",
    "format",
    "pattern",
    "multipleOf",
    "properties",
    "patternProperties",
    "additionalProperties",
    "items",
    "additionalItems",
    "dependencies",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
}
_REFUSED = frozenset({"$ref", "$schema"} | (set(Draft4RequestValidator.VALIDATORS) - _HANDLED))


class UnsupportedSchema(ValueError):
    """The fast path does not translate this schema; jsonschema alone validates it."""


@dataclass(frozen=True)
class StringCheck:
    """``pattern`` and ``format`` of one schema, run as jsonschema runs them (strings only)."""

    pattern: re.Pattern[str] | None
    format: str | None

    def __call__(self, value: str) -> bool:
        if self.pattern is not None and self.pattern.search(value) is None:
            return False
        return self.format is None or Draft4Validator.FORMAT_CHECKER.conforms(value, self.format)


@dataclass(frozen=True)
class FastSchema:
    """A draft-04 definition for fastjsonschema and the custom formats it names."""

    definition: dict[str, Any]
    formats: dict[str, StringCheck]


def fast_schema(schema: Mapping[str, Any]) -> FastSchema:
    """The draft-04 equivalent of an OpenAPI 3.0 body schema, for fastjsonschema.

    Pure: ``schema`` is not changed and nothing in the result is shared with it. Rules:

    - Only keywords connexion's ``Draft4RequestValidator`` evaluates are kept; everything
      else (``readOnly``, ``writeOnly``, ``example``, ``x-*``, ``discriminator``, ``xml``,
      ``externalDocs``, ``deprecated``, ``default``, ``components``, ``id``, ...) is an
      annotation to it and is dropped.
    - ``nullable: true`` (or ``x-nullable: true``) lets ``null`` through ``type`` and
      ``enum``, as connexion's ``allow_nullable`` does: ``type`` gains ``"null"``, ``enum``
      gains ``None``; nothing else changes.
    - ``pattern`` and ``format`` become one custom format, a :class:`StringCheck` that calls
      ``re.search`` and jsonschema's own draft-4 format checker; formats that checker does
      not know are not checked, by either.
    - ``multipleOf``: fastjsonschema's float arithmetic differs from jsonschema's, so the
      fast path takes only integers whose remainder is exact (``multipleOf`` integral) and
      refuses other numbers there (stricter, so jsonschema decides them).
    - ``$ref``, ``$schema`` (jsonschema would switch dialect under it), boolean or
      malformed subschemas, ``patternProperties`` beside ``additionalProperties`` (jsonschema
      joins the patterns into one regex), and any keyword not listed raise
      :class:`UnsupportedSchema`.
    """
    formats: dict[str, StringCheck] = {}
    definition = _translate(schema, formats)
    definition["$schema"] = _DRAFT4
    return FastSchema(definition, formats)


def _translate(schema: object, formats: dict[str, StringCheck]) -> dict[str, Any]:
    if not isinstance(schema, Mapping):
        raise UnsupportedSchema(f"a subschema is a {type(schema).__name__}, not an object")
    for keyword in schema:
        if keyword in _REFUSED:
            raise UnsupportedSchema(f"{keyword} is not translated")
    if "patternProperties" in schema and "additionalProperties" in schema:
        raise UnsupportedSchema("patternProperties beside additionalProperties")
    out: dict[str, Any] = {
        keyword: copy.deepcopy(value) for keyword, value in schema.items() if keyword in _PLAIN
    }
    nullable = schema.get("x-nullable") is True or bool(schema.get("nullable"))
    if "type" in schema:
        out["type"] = _nullable_type(schema["type"]) if nullable else copy.deepcopy(schema["type"])
    if "enum" in schema:
        out["enum"] = copy.deepcopy(schema["enum"])
        if nullable and isinstance(out["enum"], list):
            out["enum"].append(None)
    check = _string_check(schema)
    if check is not None:
        name = f"tthc-string-{len(formats)}"
        formats[name] = check
        out["format"] = name
    for keyword in ("properties", "patternProperties"):
        if keyword in schema:
            out[keyword] = {
                name: _translate(sub, formats) for name, sub in _mapping(schema, keyword)
            }
    for keyword in ("additionalProperties", "additionalItems"):
        if keyword in schema:
            value = schema[keyword]
            out[keyword] = value if isinstance(value, bool) else _translate(value, formats)
    if "items" in schema:
        items = schema["items"]
        out["items"] = (
            [_translate(sub, formats) for sub in items]
            if isinstance(items, list)
            else _translate(items, formats)
        )
    if "dependencies" in schema:
        out["dependencies"] = {
            name: _names(dep) if isinstance(dep, list) else _translate(dep, formats)
            for name, dep in _mapping(schema, "dependencies")
        }
    if "not" in schema:
        out["not"] = _translate(schema["not"], formats)
    for keyword in ("allOf", "anyOf", "oneOf"):
        if keyword in schema:
            subs = schema[keyword]
            if not isinstance(subs, list):
                raise UnsupportedSchema(f"{keyword} is not a list")
            out[keyword] = [_translate(sub, formats) for sub in subs]
    if "multipleOf" in schema:
        out.setdefault("allOf", []).append(_multiple_of(schema["multipleOf"]))
    return out


def _mapping(schema: Mapping[str, Any], keyword: str) -> list[tuple[str, Any]]:
    """The entries of a keyword naming properties; a name that is not a string (YAML reads
    ``200:`` as a number) would mean one thing to jsonschema and another once compiled."""
    value = schema[keyword]
    if not isinstance(value, Mapping) or not all(isinstance(name, str) for name in value):
        raise UnsupportedSchema(f"{keyword} is not an object with string names")
    return list(value.items())


def _names(names: list[Any]) -> list[str]:
    if not all(isinstance(name, str) for name in names):
        raise UnsupportedSchema("a dependency names a property with a non-string")
    return list(names)


def _nullable_type(declared: object) -> object:
    if isinstance(declared, str):
        return [declared, "null"]
    if isinstance(declared, list):
        return [*declared, "null"] if "null" not in declared else list(declared)
    raise UnsupportedSchema("type is neither a name nor a list")


def _string_check(schema: Mapping[str, Any]) -> StringCheck | None:
    pattern, format_name = schema.get("pattern"), schema.get("format")
    if pattern is not None and not isinstance(pattern, str):
        raise UnsupportedSchema("pattern is not a string")
    if format_name is not None and not isinstance(format_name, str):
        raise UnsupportedSchema("format is not a string")
    checked = format_name if format_name in Draft4Validator.FORMAT_CHECKER.checkers else None
    if pattern is None and checked is None:
        return None
    return StringCheck(re.compile(pattern) if pattern is not None else None, checked)


def _multiple_of(divisor: object) -> dict[str, Any]:
    if isinstance(divisor, bool) or not isinstance(divisor, int | float):
        raise UnsupportedSchema("multipleOf is not a number")
    not_a_number = {"not": {"type": "number"}}
    if isinstance(divisor, float):
        return not_a_number
    return {"anyOf": [not_a_number, {"type": "integer", "multipleOf": divisor}]}


def compile_fast(schema: Mapping[str, Any]) -> Callable[[Any], Any] | None:
    """fastjsonschema's validator for ``schema``, or ``None`` when it cannot be built (the
    schema is then jsonschema's alone). It raises on any body it does not accept."""
    try:
        translated = fast_schema(schema)
        return fastjsonschema.compile(
            translated.definition,
            formats=translated.formats,
            use_default=False,  # never fill defaults into the caller's body
            detailed_exceptions=False,
        )
    except Exception:  # noqa: BLE001 - whatever stops the compile, jsonschema still validates
        return None


def fast_accepts(schema: Mapping[str, Any], body: Any) -> bool:
    """Whether the fast validator (compiled once per schema object) accepts ``body``."""
    check = _compiled(schema, partial(compile_fast, schema), _FAST_CHECKS)
    if check is None:
        return False
    try:
        check(body)
    except Exception:  # noqa: BLE001 - a refusal, or any failure: jsonschema decides
        return False
    return True


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
        return _compiled(
            self._schema,
            lambda: Draft4RequestValidator(
                self._schema, format_checker=Draft4Validator.FORMAT_CHECKER
            ),
        )

    async def _parse(self, stream: AsyncGenerator[bytes, None], scope: Scope) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        if not raw:
            return None
        try:
            return json.loads(raw.decode(self._encoding))
        except UnicodeDecodeError:
            raise RequestInvalid(
                "The request body is not valid text.",
                [FieldError("body", f"is not valid {self._encoding}")],
            ) from None
        except json.JSONDecodeError as error:
            raise RequestInvalid(
                "The request body is not valid JSON.",
                [
                    FieldError(
                        "body",
                        f"is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})",
                    )
                ],
            ) from None

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
                validator = _compiled(
                    schema,
                    partial(Draft4Validator, schema, format_checker=Draft4Validator.FORMAT_CHECKER),
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
