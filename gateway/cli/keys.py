"""``keys generate|rotate|jwks``: the signing keys."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING

import typer

from gateway.cli._common import load

if TYPE_CHECKING:
    from gateway.keys import KeyStore
    from gateway.settings_model import Settings

keys_app = typer.Typer(no_args_is_help=True, help="Signing keys: generate, rotate, publish.")


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
    typer.echo(
        f"active key: {store.active().kid} ({store.active().algorithm}) in {store.directory}"
    )


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
