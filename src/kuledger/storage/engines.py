"""Building engines: SQLite in WAL mode with one writer, or PostgreSQL via psycopg 3."""

from __future__ import annotations

import contextlib
import threading
import weakref
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import ConnectionPoolEntry, SingletonThreadPool

READ_ONLY = "kuledger_read_only"  # execution option: begin a plain read transaction


def normalize_url(url: str) -> str:
    """Accept postgresql:// (and postgres://) and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_path(url: str) -> Path | None:
    """The database file of a sqlite:/// URL (None for other engines or memory)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (
        None,
        "",
        ":memory:",
    ):
        return None
    return Path(parsed.database)


def create_engine(url: str, *, pool_size: int = 5) -> Engine:
    url = normalize_url(url)
    if sa.make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return sa.create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


def create_read_engine(url: str, *, threads: int = 8) -> Engine:
    """The engine the read side uses, reading in autocommit (each statement
    sees the latest commit). On SQLite: one connection per thread, kept open;
    pooling and BEGIN/ROLLBACK around every read cost more than the read.
    On PostgreSQL: a pool of its own with a connection for each of the
    `threads` that run database work."""
    url = normalize_url(url)
    if sa.make_url(url).get_backend_name() != "sqlite":
        # Autocommit: no BEGIN and ROLLBACK round trips around a read. No ping
        # before each checkout either: the reader retries a read that finds
        # its connection dropped (SqlLedgerReader._pooled_rows).
        return sa.create_engine(
            url,
            pool_size=threads,
            max_overflow=2,  # callers outside the worker threads (CLI, lifespan)
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
        )
    engine = sa.create_engine(
        url,
        poolclass=ThreadConnectionPool,
        pool_size=128,  # at least the server's worker threads (anyio: 40)
        pool_reset_on_return=None,
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "connect", _small_read_cache)
    return engine


class ThreadConnectionPool(SingletonThreadPool):
    """One connection per thread, and never more connections than threads.

    SingletonThreadPool keeps every connection it ever made until it holds
    pool_size of them. The server's worker threads come and go (anyio ends a
    thread idle for 10 s and starts a new one when load rises again), so a
    worker under steady load piled up a read connection, with its page cache,
    for every thread it had ever had, and grew for as long as it ran. Here a
    new thread takes over the connection of a thread that has ended (SQLite
    file connections may change threads: check_same_thread is off for them),
    and only a thread that finds none opens one.
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._owners: dict[ConnectionPoolEntry, threading.Thread] = {}
        self._owners_lock = threading.Lock()

    def _do_get(self) -> ConnectionPoolEntry:
        current = getattr(self._conn, "current", None)
        record = current() if current is not None else None
        if record is not None:  # this thread's own connection: the hot path
            return record  # type: ignore[no-any-return]
        me = threading.current_thread()
        with self._owners_lock:
            ended = [r for r, t in self._owners.items() if not t.is_alive()]
            for orphan in ended:
                del self._owners[orphan]
            if ended:
                record = ended.pop()
                self._owners[record] = me
        for orphan in ended:  # more ended threads than new ones: close the rest
            self._all_conns.discard(orphan)
            with contextlib.suppress(Exception):  # nothing more to do with it
                orphan.close()
        if record is not None:
            self._conn.current = weakref.ref(record)
            self._all_conns.add(record)  # (if pool_size made the pool close it)
            return record
        record = super()._do_get()
        with self._owners_lock:
            self._owners[record] = me
        return record

    def dispose(self) -> None:
        with self._owners_lock:
            self._owners.clear()
        super().dispose()


def _small_read_cache(dbapi_connection: Any, _record: Any) -> None:
    # One read connection per server thread (up to ~40 per worker): a 64 MiB
    # page cache each would grow a worker by gigabytes. The OS page cache,
    # shared by every connection, holds the hot pages anyway.
    dbapi_connection.execute("PRAGMA cache_size=-2048")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let us issue BEGIN ourselves: pysqlite's implicit BEGIN is DEFERRED.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",  # survives app crashes; WAL syncs at checkpoints
        "foreign_keys=ON",
        "busy_timeout=10000",  # other processes' writers: wait, don't fail
        "cache_size=-65536",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_engine(url: str) -> Engine:
    engine = sa.create_engine(url, pool_size=8, max_overflow=8)
    event.listen(engine, "connect", _sqlite_pragmas)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # One writer at a time: take the write lock up front so two writers
        # never both read a balance and then collide when upgrading their lock.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
