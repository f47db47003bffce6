"""PostgreSQL taken away through a proxy: every store path raises SQLAlchemy's errors, flagged
as the store unavailable, and the same engine works again once the server is back."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy import exc as sa_exc

from gateway.store.db import driver_write_tx, make_engine, write_tx
from gateway.store.outage import is_store_unavailable, ping
from gateway.store.prepared import Prepared
from gateway.store.schema import messages
from tests.integration.faults import TcpProxy

pytestmark = pytest.mark.integration

FIRST_ID = Prepared(select(messages.c.id).limit(1))


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    with TcpProxy() as running:
        yield running


@pytest.fixture
def engine(pg_url: str, proxy: TcpProxy) -> Iterator[Engine]:
    engine = make_engine(proxy.url(pg_url))
    yield engine
    engine.dispose()


def test_the_proxy_refuses_connections_while_cut(proxy: TcpProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=2):
        pass
    proxy.cut()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    proxy.restore()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=2):
        pass


def test_a_connection_lost_mid_transaction_is_flagged_and_the_pool_heals(
    engine: Engine, proxy: TcpProxy
) -> None:
    with pytest.raises(sa_exc.OperationalError) as on_driver:
        with driver_write_tx(engine) as transaction:
            FIRST_ID.execute(transaction, {})
            proxy.cut()
            time.sleep(0.1)
            FIRST_ID.execute(transaction, {})
    assert on_driver.value.connection_invalidated
    proxy.restore()
    with pytest.raises(sa_exc.OperationalError) as on_commit:
        with driver_write_tx(engine) as transaction:
            FIRST_ID.execute(transaction, {})
            proxy.cut()  # the server goes away before the commit
            time.sleep(0.1)
    assert on_commit.value.connection_invalidated
    proxy.restore()
    with pytest.raises(sa_exc.OperationalError) as on_core:
        with write_tx(engine) as connection:
            FIRST_ID.execute(connection, {})
            proxy.cut()
            time.sleep(0.1)
            FIRST_ID.execute(connection, {})
    assert on_core.value.connection_invalidated
    proxy.restore()
    for raised in (on_driver, on_commit, on_core):
        assert is_store_unavailable(raised.value)
    # back: every pooled connection that died is replaced, no call fails
    for _ in range(5):
        with driver_write_tx(engine) as transaction:
            FIRST_ID.execute(transaction, {})
        with write_tx(engine) as connection:
            connection.execute(text("SELECT 1"))


def test_while_cut_every_path_raises_sqlalchemys_operational_error(
    engine: Engine, proxy: TcpProxy
) -> None:
    ping(engine)  # a pooled connection, which the cut kills
    proxy.cut()

    def on_driver() -> None:
        with driver_write_tx(engine) as transaction:
            FIRST_ID.execute(transaction, {})

    def on_core() -> None:
        with write_tx(engine) as connection:
            FIRST_ID.execute(connection, {})

    for attempt in (on_driver, on_core, lambda: ping(engine)):
        with pytest.raises(sa_exc.OperationalError) as raised:
            attempt()
        assert is_store_unavailable(raised.value)
    proxy.restore()
    ping(engine)
    on_driver()
    on_core()
