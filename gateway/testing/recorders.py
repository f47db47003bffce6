"""Exchange recorders for tests (an adapter's :class:`~gateway.domain.exchange.ExchangeRecorder`)."""

from __future__ import annotations

from gateway.domain.exchange import Exchange


class ListRecorder:
    """Keeps every exchange in memory: for tests that assert what was recorded."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)


class NullRecorder:
    """Records nothing: for pure unit tests of adapters (and benchmarks) only."""

    def record(self, exchange: Exchange) -> None:
        return None
