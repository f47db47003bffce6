"""The ``tthc-gateway`` command line: one entry point for operators and for ``make run``.

Commands (names fixed by design.md; docs/operations.md has the runbook):
``run`` (API + workers + relay, and the mocks with the demo config), ``serve`` (API only),
``worker`` (consumers + relay), ``mocks``, ``demo``, ``messages list|show``, ``replay``,
``log verify|export|verify-bundle``, ``keys generate|rotate|jwks``, ``db upgrade``.

Rules: configuration errors print one line per problem and exit 2 (never a stack
trace); bad arguments are refused by typer with exit 2; a command that fails its job
exits 1. Heavy modules are imported inside the command so ``--help`` stays fast.

Layout: this package only assembles the app (and :func:`main`, the console script);
one module per command group (``processes``: run, serve, worker, mocks, demo; ``keys``;
``db``; ``messages``; ``replay``; ``log``), each importing only :mod:`gateway.cli._common`
(``fail``, ``load``, ...), never another command module nor this package.
"""

from __future__ import annotations

import sys

import typer

from gateway.cli import db, keys, log, messages, processes, replay
from gateway.domain.errors import GatewayError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.split("\n\n")[0])

# the order here is the order of `tthc-gateway --help`
app.command("replay")(replay.replay_command)
app.command("serve")(processes.serve_command)
app.command("worker")(processes.worker_command)
app.command("run")(processes.run_command)
app.command("demo")(processes.demo_command)
app.command("mocks")(processes.mocks_command)
app.add_typer(keys.keys_app, name="keys")
app.add_typer(db.db_app, name="db")
app.add_typer(messages.messages_app, name="messages")
app.add_typer(log.log_app, name="log")

__all__ = ["app", "main"]


def main() -> None:
    import warnings

    # connexion imports starlette's test client at import time; not ours to fix
    warnings.filterwarnings("ignore", message=r"Using .httpx. with .starlette.testclient")
    try:
        app()
    except GatewayError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
