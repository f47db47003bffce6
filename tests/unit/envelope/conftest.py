"""Fixtures for key and envelope tests: a controllable clock and key stores in tmp dirs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.keys import KeyStore


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 27, 3, 45, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["ES256", "EdDSA"])
def algorithm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def keystore(tmp_path: Path, clock: FakeClock, algorithm: str) -> KeyStore:
    return KeyStore.ensure(
        tmp_path / "keys",
        algorithm,
        timedelta(days=7),
        clock=clock,  # type: ignore[arg-type]
    )
