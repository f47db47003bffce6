"""The compiled fast path of request-body validation (fastjsonschema before jsonschema).

Rules:
- A body schema (OpenAPI 3.0, as connexion hands it over) is translated by
  :func:`fast_schema` into draft-04 for fastjsonschema, compiled once per schema object.
- The fast validator is *sound*: when it accepts, connexion's ``Draft4RequestValidator``
  (with the draft-4 format checker) accepts too. It may be stricter (that only costs the
  jsonschema run); a keyword it cannot mirror exactly refuses the schema, which is then
  jsonschema's alone (:class:`UnsupportedSchema`, :func:`compile_fast` answers ``None``).
- :func:`fast_accepts` never raises: a refusal or any failure is ``False``, and the caller
  (``gateway.api.validation``) lets jsonschema decide.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import fastjsonschema
from connexion.json_schema import Draft4RequestValidator
from jsonschema import Draft4Validator

Cache = dict[int, tuple[object, Any]]
_FAST_CHECKS: Cache = {}


def built_once(schema: object, build: Callable[[], Any], cache: Cache) -> Any:
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
    check = built_once(schema, partial(compile_fast, schema), _FAST_CHECKS)
    if check is None:
        return False
    try:
        check(body)
    except Exception:  # noqa: BLE001 - a refusal, or any failure: jsonschema decides
        return False
    return True
