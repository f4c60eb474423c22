"""Read connections. SQLite: one per live thread, none kept for ended threads
(a server's worker threads come and go; their connections must not pile up).
PostgreSQL: a pool of autocommit connections that survives the server
dropping them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from kuledger.storage.connections import ThreadConnections
from kuledger.storage.engines import create_read_engine
from tests.conftest import make_container


class Reads(NamedTuple):
    engine: Engine
    threads: ThreadConnections
    open_connections: Callable[[], int]  # the engine's open DBAPI connections


@pytest.fixture
def reads(tmp_path: Path) -> Iterator[Reads]:
    engine = create_read_engine(f"sqlite:///{tmp_path / 'reads.db'}")
    opened: list[object] = []
    closed: list[object] = []
    event.listen(engine, "connect", lambda conn, _record: opened.append(conn))
    event.listen(engine.pool, "close", lambda conn, _record: closed.append(conn))
    yield Reads(engine, ThreadConnections(engine), lambda: len(opened) - len(closed))
    engine.dispose()


def _read(threads: ThreadConnections, seen: list[int]) -> None:
    assert threads.rows("SELECT 1") == [(1,)]
    seen.append(id(threads.connection()))


def _in_thread(target: Callable[..., None], *args: object) -> None:
    thread = threading.Thread(target=target, args=args)
    thread.start()
    thread.join()


def test_a_new_thread_takes_over_the_connection_of_an_ended_one(reads: Reads):
    seen: list[int] = []
    for _ in range(50):  # 50 short-lived threads, one after another
        _in_thread(_read, reads.threads, seen)
    assert len(seen) == 50
    # Each thread took over its predecessor's connection: one, not 50.
    assert len(set(seen)) == 1
    assert reads.open_connections() == 1


def test_a_live_thread_keeps_its_connection(reads: Reads):
    release = threading.Event()
    first: list[int] = []
    again: list[int] = []
    others: list[int] = []

    def long_lived() -> None:
        _read(reads.threads, first)
        release.wait(10)
        _read(reads.threads, again)

    keeper = threading.Thread(target=long_lived)
    keeper.start()
    for _ in range(5):  # other threads come and go meanwhile
        _in_thread(_read, reads.threads, others)
    release.set()
    keeper.join()
    assert first == again  # the same connection, still open and working
    assert first[0] not in others
    mine: list[int] = []
    _read(reads.threads, mine)
    _read(reads.threads, mine)
    assert mine[0] == mine[1]


def test_connections_of_ended_threads_beyond_one_are_closed(reads: Reads):
    seen: list[int] = []
    gate = threading.Barrier(7)

    def together() -> None:
        gate.wait(10)  # six live threads at once: six connections
        _read(reads.threads, seen)
        gate.wait(10)
        gate.wait(10)  # (while the test counts them)

    threads = [threading.Thread(target=together) for _ in range(6)]
    for thread in threads:
        thread.start()
    gate.wait(10)
    gate.wait(10)
    assert len(set(seen)) == 6
    assert reads.open_connections() == 6
    gate.wait(10)
    for thread in threads:
        thread.join()
    assert reads.open_connections() == 1  # kept for the next new thread
    _read(reads.threads, seen)  # which takes it
    assert seen[-1] in seen[:6]
    assert reads.open_connections() == 1


def test_a_disposed_or_closed_connection_is_replaced(reads: Reads):
    first = reads.threads.connection()
    reads.engine.dispose()  # closes the pool's connections, starts a new pool
    assert reads.threads.rows("SELECT 1") == [(1,)]
    assert reads.threads.connection() is not first
    reads.threads.connection().close()  # closed behind the pool's back
    assert reads.threads.rows("SELECT 2") == [(2,)]
    assert reads.open_connections() == 1


@pytest.mark.postgres
def test_postgres_reads_survive_the_server_dropping_their_connections(
    postgres_url: str,
):
    c = make_container(postgres_url)
    try:
        reader = c.reader
        assert reader.count_operations("nobody-") == 0  # a pooled connection now
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            # Reads run in autocommit: the pooled connection sits idle, not
            # "idle in transaction" as it would inside BEGIN ... ROLLBACK.
            others = admin.execute(
                "SELECT pid, state FROM pg_stat_activity WHERE datname = "
                "current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
            assert others and {state for _, state in others} == {"idle"}
            for pid, _ in others:  # as a server restart would
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # The next read finds its connection dead, drops the pool, reads again.
        assert reader.count_operations("nobody-") == 0
        assert reader.count_operations("nobody-") == 0
    finally:
        c.close()


@pytest.mark.postgres
def test_postgres_reads_plan_once_and_the_writes_as_ever(postgres_url: str):
    # Reads: generic plans for the statements psycopg prepares (planning a
    # ledger page over the monthly partitions cost more than running it).
    c = make_container(postgres_url)
    try:
        setting = "SELECT current_setting('plan_cache_mode')"
        assert c.reader.connections.rows(setting) == [("force_generic_plan",)]
        with c.engine.connect() as conn:
            assert conn.exec_driver_sql(setting).scalar() == "auto"
    finally:
        c.close()
