from __future__ import annotations

from pathlib import Path

import pytest

from gateway.flows.acceptor import Acceptor
from gateway.testing import LocalStack, local_stack


@pytest.fixture
def stack(tmp_path: Path) -> LocalStack:
    return local_stack(tmp_path)


@pytest.fixture
def acceptor(stack: LocalStack) -> Acceptor:
    return Acceptor(stack.signer, stack.store)
