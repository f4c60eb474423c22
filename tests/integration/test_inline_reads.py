"""Short reads run on the event loop where the database answers fast (SQLite;
PostgreSQL within INLINE_MAX_ROUND_TRIP_MS); the reader keeps one SQLite
connection per thread without the pool's per-query checkout, and takes a new
one when the pool has been replaced or has closed it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kuledger import bootstrap
from kuledger.bootstrap import Container, build_rate_limit_policy, inline_reads
from kuledger.http.app import runs_inline
from kuledger.http.auth import Authenticator
from kuledger.http.context import ApiServices
from kuledger.http.endpoints import ENDPOINTS
from kuledger.services import users
from kuledger.services.ratelimit import MemoryLimiter
from kuledger.storage.reader import SqlLedgerReader
from kuledger.storage.secretbox import FernetBox
from tests.conftest import TEST_SECRET_KEY, make_container

LEDGER = next(
    e for e in ENDPOINTS if e.method == "GET" and e.path == "/api/v1/accounts/ledgers"
)
TRANSFER = next(e for e in ENDPOINTS if e.method == "POST")


_opened: list[Container] = []


@pytest.fixture(autouse=True)
def _close_containers() -> Iterator[None]:
    """The round-trip probe opens a read connection: close what a test built."""
    yield
    while _opened:
        _opened.pop().close()


def _container(url: str, **overrides: object) -> Container:
    _opened.append(make_container(url, **overrides))
    return _opened[-1]


def _services(url: str, **overrides: object) -> ApiServices:
    c = _container(url, **overrides)
    return ApiServices(
        settings=c.settings,
        reader=c.reader,
        uow=c.uow,
        clock=c.clock,
        # Not c.box: that would open a connection (the key check) this
        # container, never closed, would leave behind.
        authenticator=Authenticator(c.reader, FernetBox(TEST_SECRET_KEY), c.clock),
        ratelimit=build_rate_limit_policy(c.settings),
        inline_reads=inline_reads(c),
    )


def test_the_inline_reads_are_the_ledger_and_account_gets():
    inline = {(e.method, e.path) for e in ENDPOINTS if e.inline}
    assert inline == {
        ("GET", "/api/v1/accounts/ledgers"),
        ("GET", "/api/v1/hf/accounts/ledgers"),
        ("GET", "/api/v3/hf/margin/account/ledgers"),
        ("GET", "/api/v1/accounts"),
        ("GET", "/api/v1/accounts/{accountId}"),
    }


def test_sqlite_ledger_reads_run_inline_writes_do_not(sqlite_url):
    services = _services(sqlite_url)
    assert services.ratelimit is not None
    assert isinstance(services.ratelimit.limiter, MemoryLimiter)
    assert runs_inline(LEDGER, services)
    assert not runs_inline(TRANSFER, services)
    assert runs_inline(LEDGER, _services(sqlite_url, ratelimit=False))


def test_reads_that_wait_on_the_network_keep_their_thread(sqlite_url):
    # Redis as the limiter: each charge is a network round trip.
    redis = _services(sqlite_url, redis_url="redis://127.0.0.1:6399/0")
    assert not runs_inline(LEDGER, redis)


def test_inline_reads_off_keeps_every_read_in_its_thread(sqlite_url):
    assert not runs_inline(LEDGER, _services(sqlite_url, inline_reads="off"))


@pytest.mark.postgres
def test_postgres_reads_run_inline_when_the_round_trip_is_short(postgres_url, caplog):
    caplog.set_level("INFO", logger="kuledger.bootstrap")
    assert runs_inline(LEDGER, _services(postgres_url))  # 127.0.0.1: well under
    assert "inline reads on: a PostgreSQL round trip took" in caplog.text
    assert not runs_inline(TRANSFER, _services(postgres_url))


@pytest.mark.postgres
def test_a_slow_postgres_round_trip_keeps_the_thread(postgres_url, monkeypatch, caplog):
    # No round trip is 0 ms: the measured one decides against the loop.
    monkeypatch.setattr(bootstrap, "INLINE_MAX_ROUND_TRIP_MS", 0.0)
    caplog.set_level("INFO", logger="kuledger.bootstrap")
    assert not runs_inline(LEDGER, _services(postgres_url))
    assert "inline reads off: a PostgreSQL round trip took" in caplog.text
    # `on` does not measure: the operator has decided.
    assert runs_inline(LEDGER, _services(postgres_url, inline_reads="on"))
    assert not runs_inline(LEDGER, _services(postgres_url, inline_reads="off"))


@pytest.mark.postgres
def test_read_replicas_keep_the_thread(postgres_url):
    container = _container(
        postgres_url,
        inline_reads="on",
        read_database_urls=(postgres_url,),
        redis_url="redis://127.0.0.1:6399/0",
    )
    assert not inline_reads(container)


def test_an_unreachable_postgres_at_start_keeps_the_thread(caplog):
    # Nothing listens on port 1: refused at once, no server needed.
    container = _container("postgresql://postgres@127.0.0.1:1/none")
    assert not inline_reads(container)
    assert "inline reads off: the database did not answer" in caplog.text


def _reader(url: str) -> SqlLedgerReader:
    return make_container(url).reader


def _connection(reader: SqlLedgerReader) -> Any:
    """The reader's SQLite connection on this thread."""
    threads = reader._db._threads
    assert threads is not None
    return threads.connection()


def test_the_reader_reuses_one_connection_per_thread(sqlite_url):
    reader = _reader(sqlite_url)
    users.create_user(make_container(sqlite_url).uow, lambda: 1, uid="alice")
    assert reader.user("alice") is not None
    first = _connection(reader)
    assert reader.user("alice") is not None
    assert _connection(reader) is first
    seen: list[object] = []

    def other_thread() -> None:
        assert reader.user("alice") is not None
        seen.append(_connection(reader))

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen and seen[0] is not first
    reader.close()


def test_a_disposed_or_closed_connection_is_replaced(sqlite_url):
    reader = _reader(sqlite_url)
    users.create_user(make_container(sqlite_url).uow, lambda: 1, uid="bob")
    assert reader.user("bob") is not None
    reader._db._read_engine.dispose()  # closes every connection, starts a new pool
    assert reader.user("bob") is not None
    _connection(reader).close()  # e.g. the pool trimming its connections
    assert reader.user("bob") is not None
    assert reader.user("nobody") is None
    reader.close()
