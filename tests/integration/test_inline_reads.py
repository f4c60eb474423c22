"""Short SQLite reads run on the event loop; the reader keeps one SQLite
connection per thread without the pool's per-query checkout, and takes a new
one when the pool has been replaced or has closed it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from kuledger.bootstrap import build_rate_limit_policy
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


def _services(url: str, **overrides: object) -> ApiServices:
    c = make_container(url, **overrides)
    return ApiServices(
        settings=c.settings,
        reader=c.reader,
        uow=c.uow,
        clock=c.clock,
        # Not c.box: that would open a connection (the key check) this
        # container, never closed, would leave behind.
        authenticator=Authenticator(c.reader, FernetBox(TEST_SECRET_KEY), c.clock),
        ratelimit=build_rate_limit_policy(c.settings),
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


@pytest.mark.postgres
def test_postgres_reads_keep_their_thread(postgres_url):
    assert not runs_inline(LEDGER, _services(postgres_url))


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
