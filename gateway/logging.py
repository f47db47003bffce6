"""Logging: structlog everywhere, one format for our events and third-party loggers.

Rules:
- JSON lines when not on a terminal (production, CI), readable lines on a terminal;
  ``logging.format`` forces either.
- A correlation id is bound per request and per message with :func:`bind_correlation`
  (structlog contextvars), so every line of that unit of work carries it.
- The stdlib loggers of uvicorn, zeep, pika, requests/urllib3 and alembic go through the
  same processors and renderer.
- :func:`redact` runs last before rendering, on every event: it masks personal data
  and secrets wherever they appear — by key (names, addresses, ID numbers, credentials,
  session tokens, ``MaXacThuc``) at any depth of dicts and lists, and by shape in free
  text (12- and 9-digit ID numbers, ``Bearer``/``Basic`` credentials). Personal data
  never reaches a log in clear (Decree 13/2023/NĐ-CP).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from gateway.domain.citizen_ids import mask_number

MASK = "***"


def _norm(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "")


#: keys whose value is a secret: replaced entirely
SECRET_KEYS = frozenset(
    _norm(k)
    for k in (
        "authorization",
        "x-api-key",
        "api_key",
        "apikey",
        "password",
        "secret",
        "client_secret",
        "session",
        "session_token",
        "token",
        "access_token",
        "cookie",
        "set-cookie",
        "maxacthuc",
        "x-portal-signature",
        "private_key",
        "encryption_key",
        "passphrase",
    )
)
#: keys whose value is an ID number: masked to keep first and last 3 characters
ID_KEYS = frozenset(
    _norm(k)
    for k in (
        "SoDinhDanh",
        "SoCMND",
        "SoGiayToChuHoSo",
        "SoCMNDNguoiNop",
        "SoDinhDanhChuSoHuu",
        "SoDinhDanhNguoiYeuCau",
        "MaDoiTuong",
        "cccd",
        "cmnd",
        "citizen_id",
        "id_number",
        "SoDienThoai",
        "phone",
        "Email",
    )
)
#: keys whose value is a personal name or an address: replaced entirely
PERSONAL_KEYS = frozenset(
    _norm(k)
    for k in (
        "HoVaTen",
        "Ho",
        "ChuDem",
        "Ten",
        "ChuHoSo",
        "HoTenNguoiNop",
        "HoTenNguoiYeuCau",
        "TenTKThuHuong",
        "DiaChiNguoiNop",
        "DiaChi",
        "ChiTiet",
        "ThuongTru",
        "NoiOHienTai",
        "QueQuan",
        "NoiDangKyKhaiSinh",
        "name",
        "full_name",
        "citizen_name",
        "address",
        "NgayThangNamSinh",
        "NgayThangNam",
        "birth_date",
    )
)
_ID_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{12}|[0-9]{9})(?![0-9])")
_CREDENTIAL_IN_TEXT = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_SAFE_EVENT_KEYS = frozenset({"event", "timestamp", "level", "logger", "correlation_id"})


def mask_value(value: Any) -> Any:
    """Mask an ID number (or any scalar) for display: ``001******234``."""
    if isinstance(value, str):
        return mask_number(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return mask_number(str(value))
    return MASK


def scrub_text(text: str) -> str:
    """Mask ID-number shapes and HTTP credentials inside free text."""
    text = _CREDENTIAL_IN_TEXT.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _ID_IN_TEXT.sub(lambda m: mask_number(m.group(1)), text)


def _redact_value(key: str | None, value: Any) -> Any:
    if key is not None:
        norm = _norm(key)
        if norm in SECRET_KEYS:
            return MASK
        if norm in PERSONAL_KEYS:
            return MASK if not isinstance(value, Mapping | list | tuple) else _walk(value)
        if norm in ID_KEYS and isinstance(value, str | int) and not isinstance(value, bool):
            return mask_value(value)
    return _walk(value)


def _walk(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(item) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bytes):
        return scrub_text(value.decode("utf-8", "replace"))
    return value


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask personal data and secrets everywhere in the event."""
    for key in list(event_dict):
        if key in _SAFE_EVENT_KEYS and key != "event":
            continue
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def bind_correlation(correlation_id: str, **extra: Any) -> None:
    """Bind the correlation id (and extras) for the current request or message."""
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id, **extra)


def clear_context() -> None:
    structlog.contextvars.clear_contextvars()


def _renderer(fmt: str) -> Processor:
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    if use_console:
        return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    return structlog.processors.JSONRenderer(ensure_ascii=False)


def shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]


THIRD_PARTY_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "zeep",
    "pika",
    "requests",
    "urllib3",
    "alembic",
    "httpx",
)


def configure_logging(fmt: str = "auto", level: str = "INFO", stream: Any = None) -> None:
    """Configure structlog and route the stdlib loggers through the same pipeline."""
    renderer = _renderer(fmt)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared_processors(),
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in THIRD_PARTY_LOGGERS:
        third = logging.getLogger(name)
        third.handlers[:] = []
        third.propagate = True
    logging.getLogger("pika").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    logging.getLogger("zeep").setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    structlog.configure(
        processors=[*shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


def redact_mapping(data: MutableMapping[str, Any]) -> dict[str, Any]:
    """Redacted copy of a mapping (for showing bodies to operators without ``--reveal``)."""
    result = _walk(data)
    assert isinstance(result, dict)
    return result
