"""A three-node RabbitMQ cluster on this machine, for case 8 (a node killed mid-stream).

Each node has its own ``RABBITMQ_NODENAME`` (``chaos<id>-<n>@localhost``), AMQP port
(``RABBITMQ_NODE_PORT`` and its config file's ``listeners.tcp.local`` on 127.0.0.1),
distribution port (``RABBITMQ_DIST_PORT``), data and log directories, and no plugins
(management off). Nodes 2 and 3 join node 1; quorum queues get a member on every node (the
default initial group size is the cluster size, checked after the gateway declared them).

Rules: it never touches the shared node (``rabbit@localhost``, port 5672); every command
has a timeout; leaving the ``with`` block stops every node (``rabbitmqctl stop``, then
SIGKILL of the node's own beam pid) and deletes the directories.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bench.chaos.services import rabbit_answers
from bench.chaos.stack import free_port


@dataclass
class Node:
    name: str
    amqp_port: int
    dist_port: int
    base: Path
    popen: subprocess.Popen[bytes] | None = None
    pid: int | None = None  # the beam process (the Popen is the su wrapper)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/%2F"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.base / "plugins-expand"),
            "RABBITMQ_PID_FILE": str(self.base / "node.pid"),
        }


def ctl(node: Node, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", "-n", node.name, *args],
        env=node.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class RabbitCluster:
    work_dir: Path
    size: int = 3
    nodes: list[Node] = field(default_factory=list)

    def __enter__(self) -> RabbitCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def url(self, index: int) -> str:
        return self.nodes[index].url

    def start(self, timeout: float = 120.0) -> None:
        tag = secrets.token_hex(3)
        for number in range(1, self.size + 1):
            base = self.work_dir / f"node{number}"
            node = Node(f"chaos{tag}-{number}@localhost", free_port(), free_port(), base)
            for sub in ("mnesia", "log", "plugins-expand"):
                (base / sub).mkdir(parents=True, exist_ok=True)
            (base / "rabbitmq.conf").write_text(
                f"listeners.tcp.local = 127.0.0.1:{node.amqp_port}\nloopback_users.guest = true\n"
            )
            (base / "enabled_plugins").write_text("[].\n")
            self.nodes.append(node)
        subprocess.run(
            ["chown", "-R", "rabbitmq:rabbitmq", str(self.work_dir)], check=True, timeout=30
        )
        for node in self.nodes:
            self._boot(node, timeout)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            for step in (("stop_app",), ("join_cluster", first.name), ("start_app",)):
                result = ctl(node, *step, timeout=timeout)
                if result.returncode != 0:
                    raise RuntimeError(f"{node.name} {' '.join(step)}: {result.stderr[-500:]}")
        status = ctl(first, "cluster_status", "--formatter", "json")
        running = status.stdout.count("@localhost")
        if status.returncode != 0 or not all(n.name in status.stdout for n in self.nodes):
            raise RuntimeError(
                f"cluster did not form: {status.stdout[-500:]} {status.stderr[-300:]}"
            )
        del running

    def _boot(self, node: Node, timeout: float) -> None:
        log = (node.base / "server.out").open("ab")
        try:
            node.popen = subprocess.Popen(
                ["rabbitmq-server"],
                env=node.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.popen.poll() is not None:
                raise RuntimeError(f"{node.name} exited; see {node.base / 'server.out'}")
            waited = ctl(node, "await_startup", "--timeout", "5", timeout=30)
            if waited.returncode == 0 and rabbit_answers(node.url):
                pid = ctl(node, "eval", "os:getpid().", timeout=30).stdout.strip().strip('"')
                node.pid = int(pid) if pid.isdigit() else None
                return
            time.sleep(1.0)
        raise TimeoutError(f"{node.name} did not boot within {timeout:.0f} s")

    def quorum_members(self, queue: str) -> int:
        """How many nodes hold a member of ``queue`` (0 when unknown)."""
        result = ctl(
            self.nodes[-1], "list_queues", "name", "members", "--formatter", "json", timeout=60
        )
        if result.returncode != 0:
            return 0
        import json

        try:
            rows = json.loads(result.stdout)
        except ValueError:
            return 0
        for row in rows:
            if row.get("name") == queue:
                return len(row.get("members") or [])
        return 0

    def queue_report(self, prefix: str, via: int = 1) -> list[dict[str, object]]:
        """Every queue of ``prefix`` holding something, as a surviving node sees it
        (messages, ready, unacked, leader, members online); diagnosis for lost messages."""
        import json

        result = ctl(
            self.nodes[via], "list_queues", "name", "messages", "messages_ready",
            "messages_unacknowledged", "leader", "online", "--formatter", "json", timeout=60,
        )  # fmt: skip
        if result.returncode != 0:
            return [{"error": result.stderr[-300:]}]
        try:
            rows = json.loads(result.stdout)
        except ValueError:
            return [{"error": result.stdout[-300:]}]
        return [
            row for row in rows
            if str(row.get("name", "")).startswith(prefix) and row.get("messages")
        ]  # fmt: skip

    def kill(self, index: int) -> None:
        """SIGKILL one node's beam process (no clean shutdown)."""
        node = self.nodes[index]
        if node.pid is not None:
            try:
                os.kill(node.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if node.popen is not None:
            try:
                node.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.popen.kill()

    def close(self) -> None:
        for node in self.nodes:
            if node.popen is not None and node.popen.poll() is None:
                ctl(node, "stop", timeout=60)
            if node.pid is not None:
                try:
                    os.kill(node.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if node.popen is not None:
                try:
                    node.popen.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    node.popen.kill()
        shutil.rmtree(self.work_dir, ignore_errors=True)
