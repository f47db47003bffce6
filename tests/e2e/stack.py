"""Start the gateway as real processes for end-to-end tests (no in-process shortcuts).

A :class:`Stack` runs ``tthc-gateway`` subprocesses on free ports with their own
``var/`` directory, waits until they answer, and stops them (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    var_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    api_port: int = field(default_factory=free_port)
    mocks_port: int = field(default_factory=free_port)
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def mocks_url(self) -> str:
        return f"http://127.0.0.1:{self.mocks_port}"

    def env(self) -> dict[str, str]:
        mocks = self.mocks_url
        env = {
            **os.environ,
            "TTHC_ENV": "demo",
            "TTHC_CONFIG_DIR": str(REPO / "config"),
            "TTHC_VAR_DIR": str(self.var_dir),
            "TTHC_KEYS__DIRECTORY": str(self.var_dir / "keys"),
            "TTHC_HTTP__PORT": str(self.api_port),
            "TTHC_HTTP__PUBLIC_URL": self.gateway_url,
            "TTHC_MOCKS__PORT": str(self.mocks_port),
            "TTHC_ADAPTERS__PORTAL__URL": f"{mocks}/portal",
            "TTHC_ADAPTERS__PAYMENT__URL": f"{mocks}/payment",
            "TTHC_ADAPTERS__POPULATION__URL": f"{mocks}/population/ws",
            "TTHC_ADAPTERS__POPULATION__TOKEN_URL": f"{mocks}/population/token",
            "TTHC_ADAPTERS__WAREHOUSE__URL": f"{mocks}/warehouse",
            "TTHC_ADAPTERS__CITY__URL": f"{mocks}/city",
            "TTHC_LOGGING__FORMAT": "json",
            **self.extra_env,
        }
        return env

    def start(self, name: str, *args: str) -> None:
        log = (self.var_dir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", *args],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        self.processes.append((name, process))

    def run_once(self, name: str, *args: str, timeout: float = 120.0) -> None:
        """Run a one-shot command (``db upgrade``); raise with its output if it fails."""
        result = subprocess.run(
            [sys.executable, "-m", "gateway", *args],
            env=self.env(),
            capture_output=True,
            cwd=REPO,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{name} exited {result.returncode}:\n{result.stderr.decode()[-3000:]}")

    def wait_until(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited {process.returncode}:\n{self.log(name)[-3000:]}")
            try:
                if requests.get(url, timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{url} did not answer within {timeout} s")

    def log(self, name: str) -> str:
        return (self.var_dir / f"{name}.log").read_text("utf-8", "replace")

    def stop(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    try:
        yield stack
    finally:
        stack.stop()
