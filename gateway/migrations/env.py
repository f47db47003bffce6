"""Alembic environment: runs online, on a connection handed over by ``upgrade()``.

Rules: the gateway calls :func:`gateway.store.db.upgrade`, which passes an open
connection in ``config.attributes["connection"]``; the alembic CLI may instead pass
``-x url=...``. No offline (SQL script) mode.
"""

from __future__ import annotations

from alembic import context

from gateway.store.db import make_engine
from gateway.store.schema import metadata

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # type: ignore[attr-defined]
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("pass -x url=<database url>")
    engine = make_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
