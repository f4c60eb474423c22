"""Read connections. SQLite: one per live thread, none kept for ended threads
(a server's worker threads come and go; their connections must not pile up).
PostgreSQL: a pool of autocommit connections that survives the server
dropping them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from kuledger.storage.connections import ThreadConnections
from kuledger.storage.engines import create_read_engine
from tests.conftest import make_container


def _read(reads: ThreadConnections, seen: list[int]) -> None:
    assert reads.rows("SELECT 1") == [(1,)]
    seen.append(id(reads.connection()))


def _open_connections(engine: Engine) -> Callable[[], int]:
    """A counter of the engine's open DBAPI connections, from the pool's events."""
    opened: list[object] = []
    closed: list[object] = []
    event.listen(engine, "connect", lambda conn, _record: opened.append(conn))
    event.listen(engine.pool, "close", lambda conn, _record: closed.append(conn))
    return lambda: len(opened) - len(closed)


def _in_thread(target: Callable[..., None], *args: object) -> None:
    thread = threading.Thread(target=target, args=args)
    thread.start()
    thread.join()


def test_a_new_thread_takes_over_the_connection_of_an_ended_one(tmp_path: Path):
    read = create_read_engine(f"sqlite:///{tmp_path / 'reads.db'}")
    open_connections = _open_connections(read)
    reads = ThreadConnections(read)
    try:
        seen: list[int] = []
        for _ in range(50):  # 50 short-lived threads, one after another
            _in_thread(_read, reads, seen)
        assert len(seen) == 50
        # Each thread took over its predecessor's connection: one, not 50.
        assert len(set(seen)) == 1
        assert open_connections() == 1
    finally:
        read.dispose()


def test_a_live_thread_keeps_its_connection(tmp_path: Path):
    read = create_read_engine(f"sqlite:///{tmp_path / 'reads.db'}")
    reads = ThreadConnections(read)
    release = threading.Event()
    first: list[int] = []
    again: list[int] = []
    others: list[int] = []

    def long_lived() -> None:
        _read(reads, first)
        release.wait(10)
        _read(reads, again)

    try:
        keeper = threading.Thread(target=long_lived)
        keeper.start()
        for _ in range(5):  # other threads come and go meanwhile
            _in_thread(_read, reads, others)
        release.set()
        keeper.join()
        assert first == again  # the same connection, still open and working
        assert first[0] not in others
        mine: list[int] = []
        _read(reads, mine)
        _read(reads, mine)
        assert mine[0] == mine[1]
    finally:
        read.dispose()


def test_connections_of_ended_threads_beyond_one_are_closed(tmp_path: Path):
    read = create_read_engine(f"sqlite:///{tmp_path / 'reads.db'}")
    open_connections = _open_connections(read)
    reads = ThreadConnections(read)
    try:
        seen: list[int] = []
        gate = threading.Barrier(7)

        def together() -> None:
            gate.wait(10)  # six live threads at once: six connections
            _read(reads, seen)
            gate.wait(10)
            gate.wait(10)  # (the test counts them meanwhile)

        threads = [threading.Thread(target=together) for _ in range(6)]
        for thread in threads:
            thread.start()
        gate.wait(10)
        gate.wait(10)
        assert len(set(seen)) == 6
        assert open_connections() == 6
        gate.wait(10)
        for thread in threads:
            thread.join()
        assert open_connections() == 1  # kept for the next new thread
        _read(reads, seen)  # a new thread's first read takes it
        assert seen[-1] in seen[:6]
        assert open_connections() == 1
    finally:
        read.dispose()


def test_a_disposed_or_closed_connection_is_replaced(tmp_path: Path):
    read = create_read_engine(f"sqlite:///{tmp_path / 'reads.db'}")
    open_connections = _open_connections(read)
    reads = ThreadConnections(read)
    try:
        first = reads.connection()
        read.dispose()  # closes the pool's connections, starts a new pool
        assert reads.rows("SELECT 1") == [(1,)]
        assert reads.connection() is not first
        reads.connection().close()  # closed behind the pool's back
        assert reads.rows("SELECT 2") == [(2,)]
        assert open_connections() == 1
    finally:
        read.dispose()


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
