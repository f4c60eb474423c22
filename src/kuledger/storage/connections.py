"""How the read side reaches the database: `rows()` for a short read, `stream()`
for a walk over many rows, each on the connection that engine reads best on.

Short reads skip SQLAlchemy's Connection and Result objects: per request they
cost more than SQLite's query itself. On SQLite each thread keeps a pooled
connection checked out while it lives; on PostgreSQL each read borrows one
from the pool."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool, PoolProxiedConnection

from kuledger.services.ports import StorageUnavailable
from kuledger.storage.engines import READ_ONLY
from kuledger.storage.replicas import ReadRouter

Row = tuple[Any, ...]


class ReadConnections:
    """The read side's connections: a write engine (`snapshot`, and streams on
    PostgreSQL), a read engine (everything else) and, with read replicas, the
    router that sends a user's reads to one (`user_rows`)."""

    def __init__(
        self,
        engine: Engine,
        read_engine: Engine | None = None,
        *,
        pinned: sa.Connection | None = None,
        router: ReadRouter | None = None,
    ) -> None:
        self._engine = engine
        self._read_engine = read_engine or engine
        self._router = router
        self._pinned = pinned  # inside snapshot(): its transaction's connection
        self._postgres = engine.dialect.name == "postgresql"
        self._threads = (
            ThreadConnections(self._read_engine)
            if pinned is None and self._read_engine.dialect.name == "sqlite"
            else None
        )

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        """Run driver SQL; its rows as tuples."""
        if self._threads is not None:
            return self._threads.rows(sql, params)
        if self._pinned is not None:
            return [tuple(r) for r in self._pinned.exec_driver_sql(sql, params)]
        return _pooled_rows(self._read_engine, sql, params)

    def user_rows(self, uid: str, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        """`rows()` for a read of one user's ledger or accounts: on a replica
        that has replayed the user's last commit, if there is one, else on
        the primary. A replica that fails is taken out of rotation and the
        read runs on the primary: the client sees no error."""
        router = self._router
        if router is None or self._pinned is not None:
            return self.rows(sql, params)
        replica = router.replica_for(uid)
        if replica is None:
            router.counted("primary")
            return self.rows(sql, params)
        try:
            rows = _pooled_rows(replica.engine, sql, params)
        except (sa.exc.DBAPIError, StorageUnavailable) as exc:
            router.failed(replica, exc)
            router.counted("primary")
            return self.rows(sql, params)
        router.counted(replica.name)
        return rows

    def stream(
        self,
        statement: str | sa.Executable,
        params: tuple[Any, ...] = (),
        *,
        batch: int | None = None,
    ) -> Iterator[Any]:
        """The rows of driver SQL (or a Core statement), fetched `batch` at a
        time instead of all at once."""
        options: dict[str, Any] = {"stream_results": True}
        if batch is not None:
            options["yield_per"] = batch
        with self._stream_connection() as connection:
            conn = connection.execution_options(**options)
            if isinstance(statement, str):
                yield from conn.exec_driver_sql(statement, params)
            else:
                yield from conn.execute(statement)

    def _stream_connection(self) -> AbstractContextManager[sa.Connection]:
        if self._pinned is not None:
            return nullcontext(self._pinned)
        # On PostgreSQL a server-side cursor needs a transaction, which the
        # read engine's autocommit pool does not open.
        engine = self._engine if self._postgres else self._read_engine
        return engine.connect().execution_options(**{READ_ONLY: True})

    @contextmanager
    def snapshot(self) -> Iterator[ReadConnections]:
        """Connections whose reads all see one consistent state of the database:
        one read transaction (REPEATABLE READ on PostgreSQL)."""
        options: dict[str, Any] = {READ_ONLY: True}
        if self._postgres:
            options["isolation_level"] = "REPEATABLE READ"
        with self._engine.connect().execution_options(**options) as conn, conn.begin():
            yield ReadConnections(self._engine, self._read_engine, pinned=conn)

    def close(self) -> None:
        """Close the read engine's connections (the write engine is not ours)."""
        if self._read_engine is not self._engine:
            self._read_engine.dispose()


def _pooled_rows(
    engine: Engine, sql: str, params: tuple[Any, ...], *, retry: bool = True
) -> list[Row]:
    """A read on a connection borrowed from the pool (PostgreSQL). The pool
    does not ping a connection before lending it (a round trip per query): a
    read that finds its connection dropped (a server restart, an idle timeout)
    drops the whole pool, whose other connections are as dead, and runs once
    more."""
    dbapi = engine.dialect.loaded_dbapi
    try:
        raw = engine.raw_connection()
    except dbapi.OperationalError as exc:  # refused: the pool does not wrap it
        raise StorageUnavailable(
            "Service Unavailable: the database cannot be reached, try again"
        ) from exc
    try:
        cursor = raw.cursor()
        cursor.execute(sql, params)
        rows = list(cursor.fetchall())  # psycopg rows are tuples: no copy per row
        cursor.close()
        return rows
    except dbapi.Error as exc:  # the same exception types as SQLAlchemy's
        if not (
            retry and engine.dialect.is_disconnect(exc, raw.dbapi_connection, None)
        ):
            raise sa.exc.DBAPIError.instance(sql, params, exc, dbapi.Error) from exc
        raw.invalidate(exc)
    finally:
        raw.close()
    engine.dispose()
    return _pooled_rows(engine, sql, params, retry=False)


class _Lease:
    """A pooled connection one thread keeps checked out. When the thread ends
    its thread-local state goes, and with it the lease: the connection goes
    back to the pool for the next new thread (or is closed, if the pool holds
    one already)."""

    __slots__ = ("_proxy", "dbapi", "pool")

    def __init__(self, pool: Pool, proxy: PoolProxiedConnection) -> None:
        self.pool = pool
        self.dbapi = proxy.dbapi_connection
        self._proxy: PoolProxiedConnection | None = proxy

    def release(self, *, invalidate: bool = False) -> None:
        """Check the connection in; `invalidate`: close it instead."""
        proxy, self._proxy = self._proxy, None
        if proxy is not None and invalidate:
            proxy.invalidate()
        elif proxy is not None:
            proxy.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # e.g. at interpreter exit
            self.release()


class ThreadConnections:
    """SQLite reads on one connection per live thread, without the pool's
    checkout and checkin around every query (under load they cost more than
    the query). A thread takes a connection again after the pool was replaced
    (dispose) or its connection was closed behind the pool's back."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()

    def connection(self) -> Any:
        """This thread's DBAPI connection."""
        lease: _Lease | None = getattr(self._local, "lease", None)
        if lease is None or lease.pool is not self._engine.pool:
            if lease is not None:  # its pool was disposed: close, don't return
                lease.release(invalidate=True)
            lease = self._local.lease = _Lease(
                self._engine.pool, self._engine.raw_connection()
            )
        return lease.dbapi

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        dbapi = self._engine.dialect.loaded_dbapi
        connection = self.connection()
        try:
            try:
                rows = connection.execute(sql, params).fetchall()
            except dbapi.ProgrammingError as exc:
                if "closed" not in str(exc):
                    raise
                self._local.lease.release(invalidate=True)  # then reconnect
                self._local.lease = None
                rows = self.connection().execute(sql, params).fetchall()
        except dbapi.Error as exc:  # the same exception types as SQLAlchemy's
            raise sa.exc.DBAPIError.instance(sql, params, exc, dbapi.Error) from exc
        return rows  # type: ignore[no-any-return]
