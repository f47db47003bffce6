"""Fault injection for integration tests: a TCP proxy that can take a server away.

:class:`TcpProxy` listens on ``127.0.0.1`` (a free port) and forwards every connection
to an upstream server (PostgreSQL on ``127.0.0.1:5432`` by default). :meth:`TcpProxy.cut`
closes every forwarded connection and refuses new ones (the listening socket is closed,
so a client's ``connect`` gets "connection refused", as if the server were stopped);
:meth:`TcpProxy.restore` listens again on the same port. Tests point the code under test
at :meth:`TcpProxy.url` and so take the database away without stopping the shared server
other tests run against.

Rules: threads only (no event loop to share with the code under test); every thread is a
daemon and :meth:`TcpProxy.close` joins what it started; nothing here imports ``gateway``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

_CHUNK = 65536
_POLL = 0.05  # how often the accept loop looks at its stop flag


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream``; :meth:`cut` and :meth:`restore` it."""

    def __init__(self, upstream_host: str = "127.0.0.1", upstream_port: int = 5432) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0  # chosen at the first start, kept across cuts
        self.accepted = 0  # connections forwarded so far
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._accepting = threading.Event()
        self._accept_thread: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> TcpProxy:
        self._listen()
        return self

    def close(self) -> None:
        self.cut()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def is_cut(self) -> bool:
        return self._listener is None

    def url(self, database_url: str) -> str:
        """``database_url`` with its host and port replaced by the proxy's."""
        parts = urlsplit(database_url)
        userinfo, _, _ = parts.netloc.rpartition("@")
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    # -- faults ----------------------------------------------------------------------------

    def cut(self) -> None:
        """Close every forwarded connection and refuse new ones (until :meth:`restore`)."""
        self._accepting.clear()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None
        with self._lock:
            listener, self._listener = self._listener, None
            live, self._sockets = self._sockets, set()
        if listener is not None:
            listener.close()
        for sock in live:
            _hang_up(sock)

    def restore(self) -> None:
        """Listen again on the same port (a no-op when not cut)."""
        if self._listener is None:
            self._listen()

    @contextmanager
    def outage(self, seconds: float) -> Iterator[None]:
        """Cut now, run the block, keep the cut for at least ``seconds`` in all, restore."""
        started = time.monotonic()
        self.cut()
        try:
            yield
            left = seconds - (time.monotonic() - started)
            if left > 0:
                time.sleep(left)
        finally:
            self.restore()

    # -- plumbing --------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        listener.settimeout(_POLL)
        self.port = int(listener.getsockname()[1])
        with self._lock:
            self._listener = listener
        self._accepting.set()
        self._accept_thread = self._spawn(self._accept, listener, name="proxy-accept")

    def _spawn(self, target: Callable[..., None], *args: object, name: str) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        return thread

    def _accept(self, listener: socket.socket) -> None:
        while self._accepting.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _hang_up(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if not self._accepting.is_set():
                    _hang_up(client)
                    _hang_up(upstream)
                    return
                self._sockets.update((client, upstream))
                self.accepted += 1
            self._spawn(self._pump, client, upstream, name="proxy-up")
            self._spawn(self._pump, upstream, client, name="proxy-down")

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK):
                target.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._sockets.discard(source)
            self._sockets.discard(target)
        _hang_up(source)
        _hang_up(target)


def _hang_up(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
