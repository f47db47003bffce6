"""The ``tthc-gateway`` command line: one entry point for operators and for ``make run``.

Commands (names fixed by design.md; docs/operations.md has the runbook):
``run`` (API + workers + relay, and the mocks with the demo config), ``serve`` (API only),
``worker`` (consumers + relay), ``mocks``, ``demo``, ``messages list|show``, ``replay``,
``log verify|export|verify-bundle``, ``keys generate|rotate|jwks``, ``db upgrade``.

Rules: configuration errors print one line per problem and exit 2 (never a stack
trace); bad arguments are refused by typer with exit 2; a command that fails its job
exits 1. Heavy modules are imported inside the command so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from gateway.domain.errors import ConfigError, GatewayError

if TYPE_CHECKING:
    from gateway.keys import KeyStore
    from gateway.settings_model import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.split("\n\n")[0])
keys_app = typer.Typer(no_args_is_help=True, help="Signing keys: generate, rotate, publish.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")

# --- operations commands (gateway/ops): registered here, implemented there -------------
from gateway.ops.cli import register as _register_operations  # noqa: E402

_register_operations(app)  # messages list|show, replay, log verify|export|verify-bundle
# --- end of operations commands -------------------------------------------------------


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


def open_keystore(settings: Settings, *, create: bool = True) -> KeyStore:
    from gateway.keys import KeyStore

    retention = timedelta(days=settings.keys.retention_days)
    if create:
        return KeyStore.ensure(settings.keys.directory, settings.keys.algorithm, retention)
    return KeyStore(settings.keys.directory, settings.keys.algorithm, retention)


@keys_app.command("generate")
def keys_generate() -> None:
    """Create the first signing key if the key directory has none (idempotent)."""
    settings = load()
    store = open_keystore(settings)
    typer.echo(f"active key: {store.active().kid} ({store.active().algorithm}) in {store.directory}")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Make a new active key; the old one stays valid for verification for the retention."""
    settings = load()
    store = open_keystore(settings)
    previous = store.active().kid
    new = store.rotate()
    typer.echo(f"rotated: {previous} -> {new.kid}; {previous} retained {store.retention.days} days")


@keys_app.command("jwks")
def keys_jwks() -> None:
    """Print the public keys (active and retained) as a JWKS."""
    settings = load()
    typer.echo(json.dumps(open_keystore(settings).public_jwks(), indent=2))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (Alembic) up to the newest."""
    from gateway.store.db import upgrade

    settings = load()
    url = settings.database.effective_url(settings.var_dir)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    typer.echo("database schema is up to date")


@app.command("mocks")
def mocks_command(
    host: Annotated[str, typer.Option(help="address to listen on")] = "",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port (default from config)")] = 0,
) -> None:
    """Serve every mock partner on one port (/portal, /payment, /population, /warehouse, /city)."""
    from gateway.bootstrap import mock_settings
    from mocks.server import serve

    settings = load()
    serve(mock_settings(settings), host=host or settings.mocks.host, port=port or settings.mocks.port)


def main() -> None:
    try:
        app()
    except GatewayError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
