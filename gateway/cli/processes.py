"""The process commands: ``run``, ``serve``, ``worker``, ``mocks`` and ``demo``.

Plain functions; the package (``gateway/cli/__init__.py``) registers them on the app under
their command names. Heavy modules are imported inside the command so ``--help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.cli._common import fail, load

if TYPE_CHECKING:
    from gateway.process import Role
    from gateway.settings_model import Settings

BANNER = """
tthc-gateway is running ({mode})
  API            {api}{ui}
  health         {api}/healthz   readiness: {api}/readyz   metrics: {metrics}
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
    http = settings.http
    metrics = f"http://{http.metrics_host}:{http.metrics_port}/metrics (internal)"
    return BANNER.format(
        mode=mode,
        api=http.public_url,
        ui=f"   (OpenAPI UI: {http.public_url}/ui/)" if http.swagger_ui else "",
        metrics=metrics if http.metrics_port else "off (http.metrics_port 0)",
        mocks=mocks,
        database=f"{database.scheme}://{database.hostname or ''}{database.path}",
        queue="embedded (SQL)" if settings.broker.embedded else "RabbitMQ",
    )


def _run(
    build: Callable[[Settings], Role],
    settings: Settings,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Build the role and run it until it stops (:func:`gateway.process.run_role`); a
    :class:`~gateway.process.ProcessFailed` exits 1 with its message."""
    from gateway.process import ProcessFailed, run_role

    try:
        run_role(build(settings), on_started=on_started)
    except ProcessFailed as error:
        fail(str(error))


def serve_command() -> None:
    """Run the HTTP API only (any number of these behind a load balancer)."""
    from gateway.bootstrap import build_serve

    _run(build_serve, load())


def worker_command() -> None:
    """Run the outbox relay, the consumers and the periodic jobs (reconciliation, ...)."""
    from gateway.bootstrap import build_worker

    _run(build_worker, load())


def run_command() -> None:
    """Run everything in one process: API, relay, workers, jobs, and the mocks (demo)."""
    from gateway.bootstrap import build_run

    settings = load()
    mode = "API + workers" + (" + mocks" if settings.mocks.enabled else "")
    _run(build_run, settings, lambda: typer.echo(_banner(settings, mode), err=True))


def _answers(url: str) -> bool:
    import requests

    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


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
