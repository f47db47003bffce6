"""The gateway as real processes for one chaos case: mocks, two ``serve``, two ``worker``.

Rules:
- Each process is ``.venv/bin/tthc-gateway <command>`` in its own subprocess, configured
  only by ``TTHC_*`` variables on top of ``TTHC_ENV=demo``: URLs and ports, a PostgreSQL
  schema and a RabbitMQ topology prefix of its own (so runs never collide), the worker's
  metrics port off. Everything else is the default configuration. The two workers share
  the default consumer name: it is the ledger key every worker of a type shares.
- A process can be SIGKILLed, SIGSTOPped and restarted with the same command and
  environment; its output is appended to ``<work_dir>/<name>.log``.
- Every wait is bounded; :meth:`ChaosStack.close` always stops every process it started
  (SIGTERM, then SIGKILL), deletes the topology and drops the schema.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pika
import requests
import sqlalchemy as sa
import yaml

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / ".venv" / "bin" / "tthc-gateway"
LOCAL = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCAL, 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe, timeout: float, interval: float = 0.25):  # type: ignore[no-untyped-def]
    """Call ``probe`` until it returns something truthy; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = probe()
        except Exception:  # noqa: BLE001 - a probe that raises is "not yet"
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


@dataclass
class Proc:
    """One ``tthc-gateway`` subprocess that can be killed and started again."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    log_offset: int = 0
    starts: int = 0
    kills: int = 0
    cwd: Path = REPO

    def start(self) -> None:
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        try:
            self.popen = subprocess.Popen(
                [str(CLI), *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                start_new_session=True,
            )
        finally:
            log.close()
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive:
            assert self.popen is not None
            os.kill(self.popen.pid, signum)

    def kill(self) -> None:
        """SIGKILL (no clean-up of any kind) and reap."""
        if self.alive:
            assert self.popen is not None
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
            self.kills += 1

    def stop(self, timeout: float = 20.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_since_start(self) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(self.log_offset)
            return handle.read().decode("utf-8", "replace")

    def log_text(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""


def _retry_delays() -> list[float]:
    for name in ("demo.yaml", "default.yaml"):
        data = yaml.safe_load((REPO / "config" / name).read_text("utf-8")) or {}
        delays = (data.get("broker") or {}).get("retry_delays_seconds")
        if delays:
            return [float(d) for d in delays]
    return []


def topology_names(prefix: str) -> tuple[list[str], list[str]]:
    """(queues, exchanges) the gateway declares under ``prefix`` with the demo config."""
    from gateway.messaging.port import ALL_TYPES
    from gateway.messaging.rabbitmq_wire import tier_label

    tiers = [f"{prefix}.retry.{tier_label(d)}" for d in _retry_delays()]
    queues = [f"{prefix}.{t}" for t in ALL_TYPES] + tiers + [f"{prefix}.parked"]
    return queues, [*tiers, f"{prefix}.parked", prefix]


def queue_depths(amqp_url: str, prefix: str) -> dict[str, int]:
    """Ready messages per queue of the prefix (passive declare; a missing queue is -1)."""
    queues, _ = topology_names(prefix)
    params = pika.URLParameters(amqp_url)
    params.socket_timeout = 5
    params.blocked_connection_timeout = 5
    connection = pika.BlockingConnection(params)
    depths: dict[str, int] = {}
    try:
        for queue in queues:
            channel = connection.channel()
            try:
                depths[queue] = channel.queue_declare(queue, passive=True).method.message_count
                channel.close()
            except pika.exceptions.ChannelClosedByBroker:
                depths[queue] = -1
    finally:
        connection.close()
    return depths


@dataclass
class ChaosStack:
    """Mocks + 2 serve + 2 worker on one schema and one topology prefix (module rules)."""

    work_dir: Path
    postgres_url: str
    amqp_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    worker_env: dict[str, str] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"tthc-chaos-{secrets.token_hex(4)}")
    schema: str = field(default_factory=lambda: f"tthc_chaos_{secrets.token_hex(5)}")
    api_ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))
    mocks_port: int = field(default_factory=free_port)
    procs: dict[str, Proc] = field(default_factory=dict)
    schema_created: bool = False
    tree: Path = REPO  # the source tree the processes run (another checkout: PYTHONPATH)
    observer_amqp_url: str = ""  # where the harness looks at queues (default: amqp_url)

    # -- addresses ------------------------------------------------------------------------
    @property
    def gateway_urls(self) -> list[str]:
        return [f"http://{LOCAL}:{port}" for port in self.api_ports]

    @property
    def mocks_url(self) -> str:
        return f"http://{LOCAL}:{self.mocks_port}"

    @property
    def database_url(self) -> str:
        separator = "&" if "?" in self.postgres_url else "?"
        return f"{self.postgres_url}{separator}options=-csearch_path%3D{self.schema}"

    def env(self, **overrides: str) -> dict[str, str]:
        mocks = self.mocks_url
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("TTHC_") or key.startswith("TTHC_TEST_")
        }
        if self.tree != REPO:
            base["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(self.tree), base.get("PYTHONPATH")])
            )
        return {
            **base,
            "TTHC_ENV": "demo",
            "TTHC_CONFIG_DIR": str(self.tree / "config"),
            "TTHC_VAR_DIR": str(self.work_dir / "var"),
            "TTHC_KEYS__DIRECTORY": str(self.work_dir / "var" / "keys"),
            "TTHC_DATABASE__URL": self.database_url,
            "TTHC_BROKER__URL": self.amqp_url,
            "TTHC_BROKER__TOPOLOGY_PREFIX": self.prefix,
            "TTHC_HTTP__PORT": str(self.api_ports[0]),
            "TTHC_HTTP__PUBLIC_URL": self.gateway_urls[0],
            "TTHC_MOCKS__PORT": str(self.mocks_port),
            "TTHC_ADAPTERS__PORTAL__URL": f"{mocks}/portal",
            "TTHC_ADAPTERS__PAYMENT__URL": f"{mocks}/payment",
            "TTHC_ADAPTERS__POPULATION__URL": f"{mocks}/population/ws",
            "TTHC_ADAPTERS__POPULATION__TOKEN_URL": f"{mocks}/population/token",
            "TTHC_ADAPTERS__WAREHOUSE__URL": f"{mocks}/warehouse",
            "TTHC_ADAPTERS__CITY__URL": f"{mocks}/city",
            "TTHC_LOGGING__FORMAT": "json",
            **self.extra_env,
            **overrides,
        }

    # -- life cycle -----------------------------------------------------------------------
    def start(self, timeout: float = 90.0) -> None:
        """Schema, migrations, then every process; returns once all of them answer."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._check_tree()
        self._create_schema()
        upgrade = subprocess.run(
            [str(CLI), "db", "upgrade"],
            env=self.env(),
            capture_output=True,
            cwd=self.tree,
            timeout=120,
            check=False,
        )
        if upgrade.returncode != 0:
            raise RuntimeError(
                f"db upgrade exited {upgrade.returncode}: {upgrade.stderr[-2000:]!r}"
            )
        self._add("mocks", ["mocks", "--port", str(self.mocks_port)], self.env())
        self.procs["mocks"].start()
        wait_for("mocks", lambda: self._answers(f"{self.mocks_url}/city/_mock/state"), timeout)
        for index, port in enumerate(self.api_ports, start=1):
            self._add(f"serve-{index}", ["serve"], self.env(TTHC_HTTP__PORT=str(port)))
        worker_env = {"TTHC_WORKER__METRICS_PORT": "0", **self.worker_env}
        for index in (1, 2):
            self._add(f"worker-{index}", ["worker"], self.env(**worker_env))
        for name in ("serve-1", "serve-2", "worker-1", "worker-2"):
            self.procs[name].start()
        for name in ("serve-1", "serve-2", "worker-1", "worker-2"):
            self.wait_ready(name, timeout)

    def _check_tree(self) -> None:
        """The processes must import ``gateway`` from :attr:`tree` (not the editable install)."""
        probe = subprocess.run(
            [str(CLI.parent / "python"), "-c", "import gateway; print(gateway.__file__)"],
            env=self.env(),
            capture_output=True,
            text=True,
            cwd=self.tree,
            timeout=60,
            check=False,
        )
        where = Path(probe.stdout.strip() or "?").resolve()
        if self.tree.resolve() not in where.parents:
            raise RuntimeError(f"processes would run gateway from {where}, not from {self.tree}")

    def _add(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.procs[name] = Proc(name, args, env, self.work_dir / f"{name}.log", cwd=self.tree)

    def _answers(self, url: str) -> bool:
        return requests.get(url, timeout=2).status_code < 500

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        """A serve answers /readyz, a worker logged "worker started", the mocks answer."""
        proc = self.procs[name]

        def ready() -> bool:
            if not proc.alive:
                raise RuntimeError(f"{name} exited:\n{proc.log_since_start()[-3000:]}")
            if name.startswith("serve"):
                port = self.api_ports[int(name[-1]) - 1]
                return requests.get(f"http://{LOCAL}:{port}/readyz", timeout=2).status_code == 200
            if name.startswith("worker"):
                return "worker started" in proc.log_since_start()
            return self._answers(f"{self.mocks_url}/city/_mock/state")

        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not ready within {timeout:.0f} s")
            time.sleep(0.2)

    def restart(self, name: str, *, wait: bool = False, timeout: float = 60.0) -> None:
        proc = self.procs[name]
        proc.kill()
        proc.start()
        if wait:
            self.wait_ready(name, timeout)

    def ensure_running(self, timeout: float = 60.0) -> None:
        """Start whatever is not running (after a fault) and wait until everything answers."""
        for proc in self.procs.values():
            proc.signal(signal.SIGCONT)
            if not proc.alive:
                proc.start()
        for name in self.procs:
            self.wait_ready(name, timeout)

    def close(self) -> None:
        for proc in self.procs.values():
            proc.signal(signal.SIGCONT)
            proc.signal(signal.SIGTERM)
        for proc in self.procs.values():
            proc.stop(timeout=15)
        try:
            self._delete_topology()
        except Exception as error:  # noqa: BLE001 - report, never mask the case's outcome
            print(f"chaos: could not delete topology {self.prefix}: {error}")
        try:
            self._drop_schema()
        except Exception as error:  # noqa: BLE001
            print(f"chaos: could not drop schema {self.schema}: {error}")

    def message_trail(self, message_id: str) -> str:
        """Diagnosis of one message, read from the store: its timeline, outbox row, claims."""
        engine = sa.create_engine(self.database_url)
        parts: list[str] = []
        try:
            with engine.connect() as connection:
                for label, query in (
                    ("events", "SELECT at, event, status, detail FROM message_events"
                     " WHERE message_id = :m ORDER BY id"),
                    ("outbox", "SELECT created_at, available_at FROM outbox WHERE message_id = :m"),
                    ("claims", "SELECT consumer, state, worker_id, lease_until FROM processed"
                     " WHERE message_id = :m"),
                ):  # fmt: skip
                    rows = connection.execute(sa.text(query), {"m": message_id}).all()
                    shown = "; ".join(" ".join(str(v)[11:23] if i == 0 else str(v) for i, v in
                                               enumerate(row)) for row in rows)  # fmt: skip
                    parts.append(f"{label}: {shown or '-'}")
        except Exception as error:  # noqa: BLE001 - diagnosis only
            parts.append(f"unreadable ({type(error).__name__})")
        finally:
            engine.dispose()
        return " | ".join(parts)

    # -- PostgreSQL and RabbitMQ bookkeeping ----------------------------------------------
    def _create_schema(self) -> None:
        engine = sa.create_engine(self.postgres_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
            self.schema_created = True
        finally:
            engine.dispose()

    def _drop_schema(self) -> None:
        if not self.schema_created:
            return
        engine = sa.create_engine(self.postgres_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        finally:
            engine.dispose()

    def _delete_topology(self) -> None:
        queues, exchanges = topology_names(self.prefix)
        params = pika.URLParameters(self.observer_amqp_url or self.amqp_url)
        params.socket_timeout = 5
        connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            for queue in queues:
                channel.queue_delete(queue)
            for exchange in exchanges:
                channel.exchange_delete(exchange)
        finally:
            connection.close()

    def depths(self) -> dict[str, int]:
        return queue_depths(self.observer_amqp_url or self.amqp_url, self.prefix)
