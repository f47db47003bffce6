"""What every command module shares: :func:`fail`, :func:`load`, :func:`database_errors`,
:func:`filter_or_exit`.

Rules: this module imports nothing from the command modules or the package; it stays
light (``typer`` and :mod:`gateway.domain.errors` only at import time) so ``--help``
stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer

from gateway.domain.errors import ConfigError, InvalidInput

if TYPE_CHECKING:
    from gateway.ops.messages import MessageFilter
    from gateway.settings_model import Settings


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def load() -> Settings:
    """Load configuration and configure logging, or exit 2 with the config error."""
    from gateway.config import load_settings
    from gateway.logging import configure_logging

    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(str(exc), 2)
    configure_logging(settings.logging.format, settings.logging.level)
    return settings


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn a database failure into one line and exit 1 (no stack trace for operators)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except SQLAlchemyError as error:
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:200]
        fail(f"database: {cause} (is it reachable, and migrated? `tthc-gateway db upgrade`)", 1)


def filter_or_exit(make: Callable[[], MessageFilter]) -> MessageFilter:
    """``make()``, or exit 2 with the reason the filter is invalid."""
    try:
        return make()
    except InvalidInput as error:
        fail(str(error), 2)
