"""Scalar conversions between the gateway's values and the portal's wire text.

Rules (reference, section 2, and ``contracts/portal/schemas/common.schema.json``):
- Dates are ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh (UTC+7 all year, no daylight saving).
  An aware datetime is converted to that zone; a naive one is refused (its zone would be a
  guess); sub-second parts are dropped (the wire carries seconds). An optional date is
  the empty string, or absent, when there is none.
- Flags are ``"0"``/``"1"``; the portal's booleans-as-text are ``"True"``/``"False"``;
  codes (status, channel, ...) are decimal text.
- Reading refuses anything else with :class:`ContractViolation` naming the field path.
Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import IntEnum
from typing import Any, TypeVar

from gateway.domain.errors import ContractViolation
from gateway.domain.time_zone import VIETNAM

WIRE_DATE = "%Y%m%d%H%M%S"

E = TypeVar("E", bound=IntEnum)


def refuse(where: str, why: str) -> ContractViolation:
    """A :class:`ContractViolation` whose ``field`` is the last name in ``where``."""
    name = where.rsplit(".", 1)[-1].split("[", 1)[0]
    return ContractViolation(f"{where}: {why}", field=name)


def format_date(value: datetime, where: str) -> str:
    if not isinstance(value, datetime):
        raise refuse(where, f"must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise refuse(where, "must be a timezone-aware datetime (naive datetimes are refused)")
    return value.astimezone(VIETNAM).strftime(WIRE_DATE)


def format_optional_date(value: datetime | None, where: str) -> str | None:
    return None if value is None else format_date(value, where)


def parse_date(text: object, where: str) -> datetime:
    if not isinstance(text, str) or len(text) != 14 or not text.isdigit():
        raise refuse(where, "must be a date yyyyMMddHHmmss")
    try:
        return datetime.strptime(text, WIRE_DATE).replace(tzinfo=VIETNAM)
    except ValueError:
        raise refuse(where, f"{text!r} is not a real date and time (yyyyMMddHHmmss)") from None


def parse_optional_date(data: Mapping[str, Any], key: str, where: str) -> datetime | None:
    text = data.get(key)
    if text is None or text == "":
        return None
    return parse_date(text, f"{where}.{key}")


def flag(value: bool) -> str:
    return "1" if value else "0"


def bool_text(value: bool) -> str:
    return "True" if value else "False"


def code(value: IntEnum) -> str:
    return str(int(value))


def text(data: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise refuse(f"{where}.{key}", "is required but missing")
        return ""
    if not isinstance(value, str):
        raise refuse(f"{where}.{key}", f"must be text, got {type(value).__name__}")
    if required and not value:
        raise refuse(f"{where}.{key}", "is required but empty")
    return value


def read_flag(data: Mapping[str, Any], key: str, where: str) -> bool:
    value = data.get(key, "0")
    if value not in ("0", "1"):
        raise refuse(f"{where}.{key}", 'must be "0" or "1"')
    return bool(value == "1")


def read_bool_text(data: Mapping[str, Any], key: str, where: str) -> bool:
    value = data.get(key)
    if value not in ("True", "False"):
        raise refuse(f"{where}.{key}", 'must be "True" or "False"')
    return bool(value == "True")


def read_code(data: Mapping[str, Any], key: str, enum: type[E], where: str) -> E:
    value = data.get(key)
    allowed = ", ".join(str(int(member)) for member in enum)
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise refuse(f"{where}.{key}", f"must be one of {allowed} as text")
    try:
        return enum(int(value))
    except ValueError:
        raise refuse(f"{where}.{key}", f"must be one of {allowed}, got {value!r}") from None


def items(data: Mapping[str, Any], key: str, where: str) -> list[tuple[str, Mapping[str, Any]]]:
    """The objects of an optional array field, each with its path (``where.key[i]``)."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise refuse(f"{where}.{key}", "must be an array")
    found: list[tuple[str, Mapping[str, Any]]] = []
    for index, item in enumerate(value):
        path = f"{where}.{key}[{index}]"
        if not isinstance(item, Mapping):
            raise refuse(path, "must be an object")
        found.append((path, item))
    return found


def put(target: dict[str, Any], key: str, value: str | None) -> None:
    """Set an optional field only when it has a value (the portal omits absent ones)."""
    if value:
        target[key] = value
