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


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (Alembic) up to the newest."""
    from gateway.store.db import upgrade

    settings = load()
    url = settings.database.effective_url(settings.var_dir)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    typer.echo("database schema is up to date")


BANNER = """
tthc-gateway is running ({mode})
  API            {api}   (OpenAPI UI: {api}/ui/)
  health         {api}/healthz   readiness: {api}/readyz   metrics: {api}/metrics
  signing keys   {api}/.well-known/jwks.json
{mocks}  store          {database}
  queue          {queue}
Demo API keys (published, refused in production): city system X-API-Key: demo-city-key,
operator X-API-Key: demo-ops-key.   Try: tthc-gateway demo   Stop: Ctrl-C
"""


def _banner(settings: Settings, mode: str) -> str:
    from urllib.parse import urlsplit

    mocks = ""
    if settings.mocks.enabled:
        base = f"http://{settings.mocks.host}:{settings.mocks.port}"
        mocks = (
            f"  mock partners  {base}/portal  /payment  /population  /warehouse  /city\n"
            f"                 control: {base}/<partner>/_mock/state\n"
        )
    database = urlsplit(settings.database.effective_url(settings.var_dir))
    return BANNER.format(
        mode=mode,
        api=settings.http.public_url,
        mocks=mocks,
        database=f"{database.scheme}://{database.hostname or ''}{database.path}",
        queue="embedded (SQL)" if settings.broker.embedded else "RabbitMQ",
    )


@app.command("serve")
def serve_command() -> None:
    """Run the HTTP API only (any number of these behind a load balancer)."""
    from gateway.bootstrap import build
    from gateway.process import api_server, close_gateway

    settings = load()
    gateway = build(settings)
    try:
        api_server(gateway).run()
    finally:
        close_gateway(gateway)


@app.command("worker")
def worker_command() -> None:
    """Run the outbox relay, the consumers and the periodic jobs (reconciliation, ...)."""
    import threading

    from gateway.bootstrap import build
    from gateway.messaging.worker import stop_on_signals
    from gateway.process import close_gateway, start_worker_threads

    settings = load()
    gateway = build(settings)
    stop = threading.Event()
    stop_on_signals(stop)
    threads = start_worker_threads(gateway, stop)
    metrics_server = None
    if settings.worker.metrics_port:
        from gateway.metrics import start_metrics_server

        metrics_server, _ = start_metrics_server(
            gateway.metrics, settings.worker.metrics_host, settings.worker.metrics_port
        )
    try:
        while not stop.wait(1.0):
            if not all(thread.is_alive() for thread in threads):
                fail("a worker thread stopped unexpectedly; see the log above")
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        close_gateway(gateway)


@app.command("run")
def run_command() -> None:
    """Run everything in one process: API, relay, workers, jobs, and the mocks (demo)."""
    import threading

    from gateway.bootstrap import build
    from gateway.process import api_server, start_mocks, start_worker_threads

    settings = load()
    gateway = build(settings)
    stop = threading.Event()
    mock_server = None
    if settings.mocks.enabled:
        mock_server, _ = start_mocks(gateway)
        if not mock_server.started:
            fail(f"the mocks did not start on {settings.mocks.host}:{settings.mocks.port}")
    threads = start_worker_threads(gateway, stop)
    server = api_server(gateway)
    typer.echo(_banner(settings, "API + workers" + (" + mocks" if mock_server else "")), err=True)
    try:
        server.run()
    finally:
        stop.set()
        if mock_server is not None:
            mock_server.should_exit = True
        for thread in threads:
            thread.join(timeout=30)
        gateway.close()


def _answers(url: str) -> bool:
    import requests

    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@app.command("demo")
def demo_command(
    gateway_url: Annotated[str, typer.Option(help="the gateway's base URL")] = "",
    mocks_url: Annotated[str, typer.Option(help="the mocks' base URL")] = "",
    start: Annotated[
        bool, typer.Option(help="start a stack (tthc-gateway run) if none answers")
    ] = True,
) -> None:
    """Drive flows 1-6 through a running stack (or start one) and print what happened."""
    import os
    import subprocess
    import tempfile
    import time

    from rich.console import Console
    from rich.table import Table

    from gateway.demo import Demo

    settings = load()
    gateway_url = (gateway_url or settings.http.public_url).rstrip("/")
    mocks_url = (mocks_url or f"http://{settings.mocks.host}:{settings.mocks.port}").rstrip("/")
    stack = None
    if not _answers(gateway_url):
        if not start:
            fail(f"no gateway answers at {gateway_url} (start one with: tthc-gateway run)")
        var_dir = tempfile.mkdtemp(prefix="tthc-demo-")
        env = {**os.environ, "TTHC_VAR_DIR": var_dir, "TTHC_KEYS__DIRECTORY": f"{var_dir}/keys"}
        log_file = open(f"{var_dir}/stack.log", "w")
        stack = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run"], env=env, stdout=log_file, stderr=log_file
        )
        deadline = time.monotonic() + 60
        while not _answers(gateway_url):
            if stack.poll() is not None or time.monotonic() > deadline:
                fail(f"the stack did not start; see {var_dir}/stack.log")
            time.sleep(0.3)
    try:
        steps = Demo(
            gateway_url=gateway_url, mocks_url=mocks_url, agency_code=settings.agency.code
        ).run()
    finally:
        if stack is not None:
            stack.terminate()
            stack.wait(timeout=30)
    table = Table(title="tthc-gateway demo")
    for column in ("flow", "step", "partner", "outcome", "time", "message id"):
        table.add_column(column)
    for step in steps:
        outcome = "[green]ok[/green]" if step.ok else f"[red]{step.outcome}[/red]"
        table.add_row(
            step.flow,
            step.name,
            step.partner,
            outcome,
            f"{step.seconds:.2f} s",
            step.message_id[:36],
        )
    Console(width=160).print(table)
    failed = [step for step in steps if not step.ok]
    if failed:
        fail(f"{len(failed)} of {len(steps)} steps failed")
    typer.echo(f"all {len(steps)} steps passed")


@app.command("mocks")
def mocks_command(
    host: Annotated[str, typer.Option(help="address to listen on")] = "",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: from config)")] = 0,
) -> None:
    """Serve every mock partner on one port (/portal, /payment, /population, /warehouse, /city)."""
    from gateway.bootstrap import mock_settings
    from mocks.server import serve

    settings = load()
    serve(
        mock_settings(settings), host=host or settings.mocks.host, port=port or settings.mocks.port
    )


def main() -> None:
    import warnings

    # connexion imports starlette's test client at import time; not ours to fix
    warnings.filterwarnings("ignore", message=r"Using .httpx. with .starlette.testclient")
    try:
        app()
    except GatewayError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
