"""A ledger page costs one statement on both engines: the page, the user's
change marker and the window's total are read together, whether the total
is counted (first page, or the ledger changed) or remembered. The statements
are counted on the read engine's own connections (sqlite3's trace callback,
a psycopg cursor that counts its executes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from kuledger.bootstrap import Container
from kuledger.domain.times import DAY_MS
from kuledger.services import ledger, queries, users
from kuledger.services.paging import PageCursors
from kuledger.storage.engines import create_read_engine
from kuledger.storage.reader import SqlLedgerReader
from tests.fakes import FakeClock

START = FakeClock().now - 1  # the window: a day from just before the clock starts


class Counted:
    """Statements run on an engine's connections, as they are run."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements: list[str] = []
        sa.event.listen(engine, "connect", self._watch)

    def _watch(self, dbapi_connection: Any, _record: Any) -> None:
        if hasattr(dbapi_connection, "set_trace_callback"):  # sqlite3
            dbapi_connection.set_trace_callback(self.statements.append)
            return
        import psycopg

        seen = self.statements

        class CountingCursor(psycopg.Cursor[Any]):
            def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                seen.append(str(query))
                return super().execute(query, *args, **kwargs)

        dbapi_connection.cursor_factory = CountingCursor


@pytest.fixture
def counted(container: Container) -> Iterator[tuple[SqlLedgerReader, Counted]]:
    read_engine = create_read_engine(container.settings.database_url, threads=1)
    counter = Counted(read_engine)
    reader = SqlLedgerReader(container.engine, read_engine)
    reader.currencies()  # the catalogue (cached for a few seconds) read first
    yield reader, counter
    reader.close()


def _deposits(c: Container, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        c.clock.advance(1000)
        op = {"op": "deposit", "uid": "u1", "id": f"d{n}", "currency": "USDT"}
        ledger.apply(c.uow, {**op, "amount": "1"}, c.clock)


def _page(
    c: Container, reader: SqlLedgerReader, cursors: PageCursors, page: int
) -> queries.Page:
    query = queries.SpotLedgerQuery(
        uid="u1", start_at=START, end_at=START + DAY_MS, current_page=page, page_size=10
    )
    return queries.spot_ledger(reader, query, c.clock(), 30, cursors)


def test_a_page_with_its_total_is_one_statement(
    container: Container, counted: tuple[SqlLedgerReader, Counted]
):
    reader, counter = counted
    assert container.clock() > START
    users.create_user(container.uow, container.clock, uid="u1")
    _deposits(container, 25)
    cursors = PageCursors()
    counter.statements.clear()
    first = _page(container, reader, cursors, 1)  # counted
    second = _page(container, reader, cursors, 2)  # the remembered total
    assert (first.total_num, len(first.rows)) == (25, 10)
    assert (second.total_num, second.total_page, len(second.rows)) == (25, 3, 10)
    assert len(counter.statements) == 2
    _deposits(container, 3, start=25)  # the marker moves: counted again
    counter.statements.clear()
    third = _page(container, reader, cursors, 3)
    assert third.total_num == 28
    assert len(counter.statements) == 1
