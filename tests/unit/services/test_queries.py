"""The read side's rules: ledger windows, page seeks and cached totals, HF and
futures limits, against a LedgerReader stub that logs what it was asked."""

from __future__ import annotations

import pytest

from kuledger.domain import biztypes
from kuledger.domain.accounts import Book
from kuledger.domain.currencies import DEFAULT_CURRENCIES
from kuledger.domain.errors import InvalidInput
from kuledger.services import queries
from kuledger.services.paging import PageCursors
from kuledger.services.ports import ContractRow, CountedPage, LedgerRow
from kuledger.services.queries import (
    DAY_MS,
    HF_WINDOW_MS,
    CursorLedgerQuery,
    FuturesLedgerQuery,
    SpotLedgerQuery,
)

NOW = 1_790_000_000_000


def row(entry_id: int, created_at: int) -> LedgerRow:
    return LedgerRow(
        entry_id, "USDT", "1", "0", "5", "MAIN", "DEPOSIT", "in", created_at, ""
    )


class StubReader:
    """Serves `rows` (newest first) and a change `marker`; logs the calls."""

    def __init__(self, rows: list[LedgerRow] | None = None) -> None:
        self.rows = rows or []
        self.marker = 1
        self.calls: list[tuple[object, ...]] = []

    def currencies(self):
        return {c.code: c for c in DEFAULT_CURRENCIES}

    def counted_entry_rows(self, query, seek, limit, counted_at):
        """One statement: logged as "page", and "count" when it counts."""
        self.calls.append(("page", query, seek.offset, limit, seek.after))
        total = None
        if counted_at != self.marker:
            self.calls.append(("count", query))
            total = len(self.rows)
        page = self.rows[seek.offset : seek.offset + limit]
        return CountedPage(self.marker, total, page)

    def entry_rows_before(self, query, last_id, limit):
        self.calls.append(("before", query, last_id, limit))
        return self.rows[:limit]

    def contract_rows(self, *args):
        self.calls.append(("contract", *args))
        return self.rows[: args[-1]]


# --- the 24 h window -------------------------------------------------------


def test_no_bounds_is_the_last_24_hours():
    assert queries.ledger_window(None, None, NOW, 30) == (NOW - DAY_MS, NOW)


def test_one_bound_puts_the_other_24_hours_away():
    start = NOW - 5 * DAY_MS
    assert queries.ledger_window(start, None, NOW, 30) == (start, start + DAY_MS)
    assert queries.ledger_window(None, NOW, NOW, 30) == (NOW - DAY_MS, NOW)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (NOW, NOW - 1, "startAt"),
        (NOW - DAY_MS - 1, NOW, "endAt"),
        (NOW - 31 * DAY_MS, NOW - 30 * DAY_MS, "startAt"),
    ],
    ids=["reversed", "too-wide", "beyond-retention"],
)
def test_a_window_is_refused_naming_the_bound(start, end, field):
    with pytest.raises(InvalidInput) as caught:
        queries.ledger_window(start, end, NOW, 30)
    assert caught.value.field == field


def test_exactly_24_hours_on_the_horizon_is_allowed():
    start = NOW - 30 * DAY_MS
    assert queries.ledger_window(start, start + DAY_MS, NOW, 30)[0] == start


# --- spot ledger pages -------------------------------------------------------


def spot(**fields: object) -> SpotLedgerQuery:
    values = {"uid": "u1", "start_at": NOW - DAY_MS, "end_at": NOW, "page_size": 2}
    return SpotLedgerQuery(**{**values, **fields})  # type: ignore[arg-type]


FIVE = [row(10 - n, NOW - n) for n in range(5)]


def test_a_page_carries_the_total_and_the_page_count():
    page = queries.spot_ledger(StubReader(FIVE), spot(), NOW, 30, PageCursors())
    assert (page.total_num, page.total_page, page.rows) == (5, 3, FIVE[:2])


def test_the_next_page_seeks_past_the_last_row_and_reuses_the_total():
    reader, cursors = StubReader(FIVE), PageCursors()
    queries.spot_ledger(reader, spot(), NOW, 30, cursors)
    reader.calls.clear()
    reader.rows = FIVE[2:]  # what the seek selects
    page = queries.spot_ledger(reader, spot(current_page=2), NOW, 30, cursors)
    [(kind, _, offset, limit, after)] = reader.calls
    assert (kind, offset, limit, after) == ("page", 0, 2, (NOW - 1, 9))
    assert page.total_num == 5


def test_the_total_is_counted_again_once_the_ledger_changed():
    reader, cursors = StubReader(FIVE), PageCursors()
    queries.spot_ledger(reader, spot(), NOW, 30, cursors)
    reader.marker = 2
    reader.rows = [*FIVE, row(11, NOW)]
    page = queries.spot_ledger(reader, spot(), NOW, 30, cursors)
    assert [c[0] for c in reader.calls] == ["page", "count", "page", "count"]
    assert page.total_num == 6


def test_windows_ending_now_are_not_remembered():
    reader, cursors = StubReader(FIVE), PageCursors()
    no_window = spot(start_at=None, end_at=None)
    queries.spot_ledger(reader, no_window, NOW, 30, cursors)
    queries.spot_ledger(reader, no_window, NOW, 30, cursors)
    assert [c[0] for c in reader.calls] == ["page", "count", "page", "count"]
    page_two = queries.spot_ledger(
        reader, spot(start_at=None, end_at=None, current_page=2), NOW, 30, cursors
    )
    assert reader.calls[-2][2:] == (2, 2, None)  # a plain OFFSET
    assert page_two.rows == FIVE[2:4]


def test_an_empty_page_remembers_no_position():
    reader, cursors = StubReader(FIVE), PageCursors()
    queries.spot_ledger(reader, spot(current_page=4), NOW, 30, cursors)
    reader.calls.clear()
    queries.spot_ledger(reader, spot(current_page=5), NOW, 30, cursors)
    assert reader.calls[0][2:] == (8, 2, None)


def test_unknown_currencies_select_nothing_without_a_read():
    reader = StubReader(FIVE)
    page = queries.spot_ledger(reader, spot(currencies=("NOPE",)), NOW, 30)
    assert (page.total_num, page.rows, reader.calls) == (0, [], [])


def test_known_currencies_and_the_biz_type_make_the_filter():
    reader = StubReader(FIVE)
    biz_type = sorted(biztypes.SPOT_FILTERS)[0]
    query = spot(currencies=("NOPE", "BTC"), biz_type=biz_type, direction="in")
    queries.spot_ledger(reader, query, NOW, 30)
    selection = reader.calls[0][1]
    assert selection.currencies == ("BTC",)
    assert selection.biz_codes == biztypes.codes_for_spot_filter(biz_type)
    assert (selection.book, selection.direction) == (Book.SPOT, "in")


def test_an_unknown_biz_type_or_too_many_currencies_is_refused():
    with pytest.raises(InvalidInput) as caught:
        queries.spot_ledger(StubReader(), spot(biz_type="NOPE"), NOW, 30)
    assert caught.value.field == "bizType"
    eleven = tuple(f"C{n}" for n in range(11))
    with pytest.raises(InvalidInput) as caught:
        queries.spot_ledger(StubReader(), spot(currencies=eleven), NOW, 30)
    assert caught.value.field == "currency"


# --- HF and futures ledgers --------------------------------------------------


def test_the_hf_window_clamps_to_72_hours_instead_of_refusing():
    assert queries.hf_window(None, None, NOW) == (NOW - HF_WINDOW_MS, NOW)
    assert queries.hf_window(0, None, NOW) == (0, HF_WINDOW_MS)
    assert queries.hf_window(None, NOW, NOW) == (NOW - HF_WINDOW_MS, NOW)
    assert queries.hf_window(0, NOW, NOW) == (NOW - HF_WINDOW_MS, NOW)


def test_an_hf_page_has_canonical_amounts_and_reversed_bounds_select_nothing():
    # PostgreSQL's numeric::text keeps the stored scale
    stored = row(1, NOW)._replace(amount="60.06000000", fee="0E-8", balance="5.10")
    reader = StubReader([stored])
    query = CursorLedgerQuery(uid="u1", book=Book.HF, last_id=7, limit=3)
    [out] = queries.cursor_ledger(reader, query, NOW)
    assert out == stored._replace(amount="60.06", fee="0", balance="5.1")
    assert reader.calls[0][2:] == (7, 3)
    reader.calls.clear()
    reversed_ = CursorLedgerQuery(uid="u1", book=Book.HF, start_at=NOW, end_at=0)
    assert queries.cursor_ledger(reader, reversed_, NOW) == []
    assert reader.calls == []


def test_the_futures_ledger_asks_for_one_more_to_know_whether_more_follow():
    rows = [ContractRow(n, "USDT", "1", "0", "1", "X", "in", NOW, "") for n in range(4)]
    reader = StubReader(rows)  # type: ignore[arg-type]
    page, more = queries.futures_ledger(
        reader, FuturesLedgerQuery(uid="u1", max_count=3)
    )
    assert (len(page), more) == (3, True)
    assert reader.calls[0][-1] == 4
    page, more = queries.futures_ledger(
        reader, FuturesLedgerQuery(uid="u1", max_count=4)
    )
    assert (len(page), more) == (4, False)
