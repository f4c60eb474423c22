"""The explorer's read rules on a real ledger (SQLite and PostgreSQL), with
small bounds so the bounded paths run: a filtered page that stops scanning, a
chart that samples, the cursors that continue from either, chain links."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from kuledger.domain.chain import GENESIS
from kuledger.services import explorer
from kuledger.services.explorer import Cursor, EntryFilter
from kuledger.services.ledger import OperationResult
from kuledger.storage.explorer import SqlExplorerQueries
from kuledger.storage.operator import SqlOperatorQueries
from tests.conftest import PostgresDatabases
from tests.explorer.support import ALICE_DEPOSITS, HOUR, T0, Site, explorer_site
from tests.support.shared import ENGINES, engine_database

TOTAL = 2 * ALICE_DEPOSITS + 1  # alice's main USDT entries


@pytest.fixture(scope="module", params=ENGINES)
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[Site]:
    url, workdir = engine_database(request.param, tmp_path_factory, postgres_databases)
    with explorer_site(workdir, url) as running:
        yield running


@pytest.fixture(scope="module")
def q(site: Site) -> SqlExplorerQueries:
    c = site.container
    return SqlExplorerQueries(c.engine, c.reader.connections)


def test_a_filtered_page_scans_a_bounded_range_and_continues_past_it(site, q):
    account = q.account(site.alice_usdt)
    assert account is not None
    deposits = EntryFilter(biz_codes=("DEPOSIT",))
    page = explorer.account_entries(q, account, deposits, Cursor(), 10, scan_rows=7)
    # Seqs 301..295 looked through: the deposits among them are 299, 297, 295.
    assert page.examined == (TOTAL - 6, TOTAL)
    assert [r.seq for r in page.rows] == [299, 297, 295]
    assert page.older == TOTAL - 6 and page.newer is None
    walked, cursor = [], Cursor()
    while True:
        page = explorer.account_entries(q, account, deposits, cursor, 10, scan_rows=7)
        walked += [r.seq for r in page.rows]
        if page.older is None:
            break
        cursor = Cursor(before=page.older)
    assert walked == list(range(TOTAL - 2, 0, -2))  # every deposit, once, in order


def test_newer_pages_walk_back_to_the_newest(site, q):
    account = q.account(site.alice_usdt)
    assert account is not None
    page = explorer.account_entries(q, account, EntryFilter(), Cursor(after=100), 20)
    assert [r.seq for r in page.rows] == list(range(120, 100, -1))
    assert page.older == 101 and page.newer == 120


def test_a_time_range_is_a_seq_range(site, q):
    account = q.account(site.alice_usdt)
    assert account is not None
    window = EntryFilter(start_at=T0 + 10 * HOUR, end_at=T0 + 13 * HOUR)
    assert explorer.seq_range(q, account, window) == (11, 14)
    empty = EntryFilter(start_at=T0 + 10_000 * HOUR)
    assert explorer.seq_range(q, account, empty) is None
    assert explorer.account_entries(q, account, empty, Cursor()).rows == []


def test_a_long_history_is_charted_from_an_even_sample(site, q):
    account = q.account(site.alice_usdt)
    assert account is not None
    exact = explorer.balance_series(q, account, EntryFilter(), buckets=50)
    sampled = explorer.balance_series(
        q, account, EntryFilter(), buckets=50, exact=100, sample=31
    )
    assert not exact.sampled and exact.read == TOTAL
    assert sampled.sampled and sampled.entries == TOTAL and sampled.read == 31
    assert sampled.buckets[-1].last == exact.buckets[-1].last == account.balance
    assert sampled.buckets[0].first == exact.buckets[0].first == Decimal(100)
    assert len(exact.buckets) <= 50 and len(sampled.buckets) <= 31


def test_the_operation_legs_link_on_every_engine(site, q):
    c = site.container
    stored = SqlOperatorQueries(c.engine, c.reader.connections).operation("alice", "t1")
    assert stored is not None
    result = OperationResult.from_json(stored.result, replayed=False)
    legs = explorer.operation_legs(q, stored, result.entry_ids)
    assert [leg.link_ok for leg in legs] == [True, True]
    assert [leg.entry.seq for leg in legs] == [TOTAL, 1]
    assert legs[0].prev is not None and legs[0].prev.seq == TOTAL - 1
    assert legs[1].prev is None and legs[1].prev_hash == GENESIS
