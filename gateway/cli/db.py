"""``db upgrade``: the database schema."""

from __future__ import annotations

import typer

from gateway.cli._common import load

db_app = typer.Typer(no_args_is_help=True, help="Database schema.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (Alembic) up to the newest."""
    from gateway.store.db import upgrade

    settings = load()
    url = settings.database.effective_url(settings.var_dir)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    typer.echo("database schema is up to date")
