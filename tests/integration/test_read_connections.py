"""Read connections. SQLite: one per live thread, none kept for ended threads
(a server's worker threads come and go; their connections must not pile up).
PostgreSQL: a pool of autocommit connections that survives the server
dropping them."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from kuledger.storage.engines import ThreadConnectionPool, create_read_engine
from tests.conftest import make_container


def _read(engine, seen: list[int]) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT 1")
        seen.append(id(raw.dbapi_connection))
        cursor.close()
    finally:
        raw.close()


def _open_connections(engine) -> int:
    pool = engine.pool
    assert isinstance(pool, ThreadConnectionPool)
    return len(pool._all_conns)


def test_a_new_thread_takes_over_the_connection_of_an_ended_one(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'reads.db'}"
    read = create_read_engine(url)
    try:
        seen: list[int] = []
        for _ in range(50):  # 50 short-lived threads, one after another
            thread = threading.Thread(target=_read, args=(read, seen))
            thread.start()
            thread.join()
        assert len(seen) == 50
        # Each thread took over its predecessor's connection: one, not 50.
        assert len(set(seen)) == 1
        assert _open_connections(read) == 1
    finally:
        read.dispose()


def test_a_live_thread_keeps_its_connection(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'reads.db'}"
    read = create_read_engine(url)
    release = threading.Event()
    first: list[int] = []
    again: list[int] = []

    def long_lived() -> None:
        _read(read, first)
        release.wait(10)
        _read(read, again)

    try:
        keeper = threading.Thread(target=long_lived)
        keeper.start()
        others: list[int] = []
        for _ in range(5):  # other threads come and go meanwhile
            thread = threading.Thread(target=_read, args=(read, others))
            thread.start()
            thread.join()
        release.set()
        keeper.join()
        assert first == again  # the same connection, still open and working
        mine: list[int] = []
        _read(read, mine)
        _read(read, mine)
        assert mine[0] == mine[1]
    finally:
        read.dispose()


def test_connections_of_ended_threads_beyond_new_ones_are_closed(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'reads.db'}"
    read = create_read_engine(url)
    try:
        seen: list[int] = []
        gate = threading.Barrier(6)

        def together() -> None:
            gate.wait(10)  # six live threads at once: six connections
            _read(read, seen)
            gate.wait(10)

        threads = [threading.Thread(target=together) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(seen)) == 6
        assert _open_connections(read) == 6
        _read(read, seen)  # a new thread's first read: one kept, five closed
        assert _open_connections(read) == 1
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
