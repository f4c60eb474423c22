"""Building engines: SQLite in WAL mode with one writer, or PostgreSQL via psycopg 3."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

from kuledger.services.ports import StorageUnavailable

log = logging.getLogger("kuledger.storage")

READ_ONLY = "kuledger_read_only"  # execution option: begin a plain read transaction


def normalize_url(url: str) -> str:
    """Accept postgresql:// (and postgres://) and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_engine(url: str, *, pool_size: int = 5) -> Engine:
    url = normalize_url(url)
    if sa.make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    engine = sa.create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )
    event.listen(engine, "handle_error", _unavailable)
    return engine


def _unavailable(context: sa.engine.ExceptionContext) -> None:
    """PostgreSQL: a lost or refused connection is StorageUnavailable (the
    HTTP edge answers 503000), not a driver error the edge does not know."""
    dbapi = context.engine.dialect.loaded_dbapi if context.engine else None
    original = context.original_exception
    if context.is_disconnect or (
        dbapi is not None and isinstance(original, dbapi.OperationalError)
    ):
        log.warning("the database cannot be reached: %s", str(original).strip())
        raise StorageUnavailable(
            "Service Unavailable: the database cannot be reached, try again"
        ) from context.sqlalchemy_exception


# Reads run the same few statements with other parameters, and psycopg
# prepares each after 5 runs; PostgreSQL would still plan every run anew
# (custom plans), and planning a ledger page over `entries`' monthly
# partitions cost more than running it (0.28 ms of 0.34 on 2M entries). A
# generic plan prunes the partitions when it runs, and is planned once.
GENERIC_PLANS = "-c plan_cache_mode=force_generic_plan"


def create_read_engine(url: str, *, threads: int = 8) -> Engine:
    """The engine the read side uses, reading in autocommit (each statement
    sees the latest commit). On SQLite: one connection per live thread;
    pooling and BEGIN/ROLLBACK around every read cost more than the read.
    On PostgreSQL: a pool of its own with a connection for each of the
    `threads` that run database work."""
    url = normalize_url(url)
    if sa.make_url(url).get_backend_name() != "sqlite":
        # Autocommit: no BEGIN and ROLLBACK round trips around a read. No ping
        # before each checkout either: the reader retries a read that finds
        # its connection dropped (connections.ReadConnections.rows).
        engine = sa.create_engine(
            url,
            pool_size=threads,
            max_overflow=2,  # callers outside the worker threads (CLI, lifespan)
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
            connect_args={"options": GENERIC_PLANS},
        )
        event.listen(engine, "handle_error", _unavailable)
        return engine
    # Each thread keeps a connection checked out while it lives
    # (connections.ThreadConnections); when it ends, the connection waits in
    # the pool for the next new thread. The server's worker threads come and
    # go (anyio ends one idle for 10 s), so connections of ended threads
    # beyond that one are closed: a worker must not keep a connection, with
    # its page cache, for every thread it ever had. (SQLite file connections
    # may change threads: check_same_thread is off for them.)
    engine = sa.create_engine(
        url,
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=-1,  # no limit: one connection per live thread
        pool_reset_on_return=None,
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "connect", _small_read_cache)
    return engine


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
