"""Restarting the shared RabbitMQ and PostgreSQL, and making sure they come back.

Rules: every command has a timeout; :func:`restore_rabbitmq` and :func:`restore_postgres`
are safe to call at any time (they start what is stopped) and return only once the
server answers a real client (a pika connection, ``SELECT 1``), or raise after their
timeout. Callers put them in ``finally``.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pika
import sqlalchemy as sa


def _run(*command: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def rabbit_answers(amqp_url: str) -> bool:
    params = pika.URLParameters(amqp_url)
    params.socket_timeout = 3
    params.connection_attempts = 1
    try:
        connection = pika.BlockingConnection(params)
    except Exception:  # noqa: BLE001 - any failure is "not answering"
        return False
    connection.close()
    return True


def postgres_answers(postgres_url: str) -> bool:
    engine = sa.create_engine(postgres_url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001
        return False
    finally:
        engine.dispose()


def _wait(what: str, probe, timeout: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not probe():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} does not answer after {timeout:.0f} s")
        time.sleep(0.5)
    return time.monotonic()


def stop_rabbitmq_app() -> None:
    result = _run("rabbitmqctl", "stop_app", timeout=90)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl stop_app: {result.stderr.strip()[-500:]}")


def restore_rabbitmq(amqp_url: str, timeout: float = 180.0) -> float:
    """``start_app`` (a no-op when running), ``await_startup``, then a real connection."""
    _run("rabbitmqctl", "start_app", timeout=timeout)
    _run("rabbitmqctl", "await_startup", timeout=timeout)
    return _wait("RabbitMQ", lambda: rabbit_answers(amqp_url), timeout)


def postgres_version() -> str:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir())
    if not versions:
        raise RuntimeError("no cluster under /etc/postgresql")
    return versions[0]


def restart_postgres() -> None:
    result = _run(
        "pg_ctlcluster",
        "--skip-systemctl-redirect",
        postgres_version(),
        "main",
        "restart",
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pg_ctlcluster restart: {result.stderr.strip()[-500:]}")


def restore_postgres(postgres_url: str, timeout: float = 120.0) -> float:
    """Start the cluster if it does not answer, then wait for ``SELECT 1``."""
    if not postgres_answers(postgres_url):
        _run("pg_ctlcluster", "--skip-systemctl-redirect", postgres_version(), "main", "start")
    return _wait("PostgreSQL", lambda: postgres_answers(postgres_url), timeout)
