from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.store.repositories import UnitOfWork
from gateway.store.unit_of_work import units_of_work
from gateway.testing import LocalStack, local_stack


@pytest.fixture
def stack(tmp_path: Path) -> LocalStack:
    return local_stack(tmp_path)


@pytest.fixture
def uow(stack: LocalStack) -> Callable[[], UnitOfWork]:
    """A factory of the store's units of work (group commit on the stack's SQLite)."""
    return units_of_work(stack.engine)
