"""The guard every JSON request body goes through before it is validated or handled.

Pure (bytes in, a JSON value or :class:`JsonRefused` out); ``gateway.api.validation``
calls :func:`parse_guarded` from connexion's body validator, so every operation with a
JSON body (the callbacks without an API key included) is guarded the same way.

Rules, each refusal a ``400`` problem naming where (``body``, ``body.a[0].b``) and why,
never the value:
- Nesting: measured on the bytes BEFORE parsing (strings skipped); deeper than
  :data:`MAX_DEPTH` arrays/objects is refused, so the parser never recurses past it.
  (The size limit is the outer middleware's ``413``, before this.)
- Text: the bytes must be UTF-8; after parsing, every string, property names included,
  must be free of lone surrogates (``"\\ud800"`` is valid JSON but not Unicode text: it
  cannot be encoded, signed, stored or sent) and of C0 control characters other than
  tab, line feed and carriage return (XML 1.0, hence every SOAP partner, forbids them; NUL
  cannot be stored in PostgreSQL text). A bad property name is reported at its parent.
- Numbers: integers must fit in 64 bits (signed), decimals must be finite; ``NaN`` and
  ``Infinity`` (which Python's parser accepts but JSON does not) are refused.
- At most :data:`MAX_ERRORS` errors are reported.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from gateway.api.problems import FieldError

MAX_DEPTH = 64
MAX_ERRORS = 20
INT_RANGE = (-(2**63), 2**63 - 1)

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonRefused(ValueError):
    """The body is refused; ``errors`` says where and why (values never echoed)."""

    def __init__(self, detail: str, errors: list[FieldError]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


@dataclass(frozen=True)
class _BadNumber:
    """A number the parser met that the gateway refuses; reported with its path later."""

    why: str


def nesting_depth(raw: bytes, limit: int = MAX_DEPTH) -> int:
    """How deep arrays and objects nest in ``raw`` (strings skipped), counted up to
    ``limit + 1`` at most. Not a syntax check: unbalanced input is the parser's to refuse."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return min(limit, raw.count(b"[") + raw.count(b"{"))
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                break
    return deepest


def _parse_int(text: str) -> int | _BadNumber:
    if len(text.lstrip("-")) > 19:
        return _BadNumber("is an integer outside the 64-bit range")
    value = int(text)
    if not INT_RANGE[0] <= value <= INT_RANGE[1]:
        return _BadNumber("is an integer outside the 64-bit range")
    return value


def _parse_float(text: str) -> float | _BadNumber:
    value = float(text)
    if not math.isfinite(value):
        return _BadNumber("is a number too large to represent")
    return value


def _parse_constant(text: str) -> _BadNumber:
    return _BadNumber(f"is {text}, which JSON does not allow")


def _text_problem(text: str) -> str | None:
    if _BAD_TEXT.search(text) is None:
        return None
    if _SURROGATE.search(text) is not None:
        return "contains a lone surrogate (not valid Unicode text)"
    return "contains a control character"


def _path(parent: str, part: str | int) -> str:
    return f"{parent}[{part}]" if isinstance(part, int) else f"{parent}.{part}"


def value_errors(value: Any, where: str = "body") -> list[FieldError]:
    """What is wrong with the strings and numbers of a parsed body (iterative walk)."""
    errors: list[FieldError] = []
    pending: list[tuple[Any, str]] = [(value, where)]
    while pending and len(errors) < MAX_ERRORS:
        item, path = pending.pop()
        if isinstance(item, _BadNumber):
            errors.append(FieldError(path, item.why))
        elif isinstance(item, str):
            problem = _text_problem(item)
            if problem is not None:
                errors.append(FieldError(path, problem))
        elif isinstance(item, dict):
            for name, child in item.items():
                problem = _text_problem(name)
                if problem is not None:
                    errors.append(FieldError(path, f"has a property name that {problem}"))
                    continue
                pending.append((child, _path(path, name)))
        elif isinstance(item, list):
            pending.extend((child, _path(path, index)) for index, child in enumerate(item))
    return sorted(errors, key=lambda error: error.field)[:MAX_ERRORS]


def parse_guarded(raw: bytes, encoding: str = "utf-8") -> Any:
    """The JSON value of ``raw`` once it passes every rule; raises :class:`JsonRefused`."""
    if nesting_depth(raw) > MAX_DEPTH:
        raise JsonRefused(
            "The request body nests too deeply.",
            [FieldError("body", f"nests arrays or objects deeper than {MAX_DEPTH} levels")],
        )
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise JsonRefused(
            "The request body is not valid text.", [FieldError("body", f"is not valid {encoding}")]
        ) from None
    try:
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except json.JSONDecodeError as error:
        where = f"{error.msg} at line {error.lineno} column {error.colno}"
        raise JsonRefused(
            "The request body is not valid JSON.",
            [FieldError("body", f"is not valid JSON ({where})")],
        ) from None
    except RecursionError:  # not reached past the depth check; kept as the last word
        raise JsonRefused(
            "The request body nests too deeply.",
            [FieldError("body", f"nests arrays or objects deeper than {MAX_DEPTH} levels")],
        ) from None
    errors = value_errors(value)
    if errors:
        raise JsonRefused("The request body holds values the gateway refuses.", errors)
    return value
