"""The read side's rules: ledger windows, paging and filters, as KuCoin has them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from kuledger.domain import biztypes
from kuledger.domain.accounts import Book
from kuledger.domain.errors import InvalidInput
from kuledger.domain.money import to_wire
from kuledger.domain.times import DAY_MS
from kuledger.services.paging import PageCursors
from kuledger.services.ports import (
    ContractFilter,
    ContractRow,
    LedgerFilter,
    LedgerReader,
    LedgerRow,
)

MAX_CURRENCIES = 10


@dataclass(frozen=True, slots=True)
class SpotLedgerQuery:
    """GET /api/v1/accounts/ledgers parameters, already type-checked."""

    uid: str
    currencies: tuple[str, ...] = ()
    direction: str | None = None
    biz_type: str | None = None
    start_at: int | None = None
    end_at: int | None = None
    current_page: int = 1
    page_size: int = 50


@dataclass(frozen=True, slots=True)
class Page:
    current_page: int
    page_size: int
    total_num: int
    total_page: int
    rows: list[LedgerRow]


def ledger_window(
    start_at: int | None,
    end_at: int | None,
    now: int,
    retention_days: int,
    max_width: int = DAY_MS,
) -> tuple[int, int]:
    """KuCoin's window rule: at most 24 h; one bound given, the other is 24 h
    away; none given, the last 24 h. Bounds are inclusive.

    Raises InvalidInput for start > end, a wider window, or one that reaches
    before the retention horizon.
    """
    if start_at is None and end_at is None:
        end_at = now
    if start_at is None:
        assert end_at is not None
        start_at = end_at - max_width
    elif end_at is None:
        end_at = start_at + max_width
    if start_at > end_at:
        raise InvalidInput("startAt", "startAt must not be later than endAt")
    if end_at - start_at > max_width:
        raise InvalidInput(
            "endAt", "the time range between startAt and endAt cannot exceed 24 hours"
        )
    horizon = now - retention_days * DAY_MS
    if start_at < horizon:
        raise InvalidInput(
            "startAt",
            f"startAt is beyond the retention horizon: history is kept for "
            f"{retention_days} days",
        )
    return start_at, end_at


def spot_ledger(
    reader: LedgerReader,
    query: SpotLedgerQuery,
    now: int,
    retention_days: int,
    cursors: PageCursors | None = None,
) -> Page:
    """One page of the classic (spot/margin) ledger, newest first."""
    if len(query.currencies) > MAX_CURRENCIES:
        raise InvalidInput(
            "currency", f"currency: at most {MAX_CURRENCIES} currencies may be given"
        )
    start, end = ledger_window(query.start_at, query.end_at, now, retention_days)
    known = reader.currencies()
    currencies = tuple(c for c in query.currencies if c in known)
    empty = Page(query.current_page, query.page_size, 0, 0, [])
    if query.currencies and not currencies:
        return empty  # unknown codes filter everything out; not an error
    biz_codes: tuple[str, ...] = ()
    if query.biz_type is not None:
        if query.biz_type not in biztypes.SPOT_FILTERS:
            raise InvalidInput("bizType", "bizType not in the given range!")
        biz_codes = biztypes.codes_for_spot_filter(query.biz_type)
    selection = LedgerFilter(
        uid=query.uid,
        book=Book.SPOT,
        start_at=start,
        end_at=end,
        currencies=currencies,
        direction=query.direction,
        biz_codes=biz_codes,
    )
    if query.start_at is None and query.end_at is None:
        # A window that ends "now" never repeats: remembering its pages would
        # only push out the positions of clients that really page.
        cursors = None
    cursors = cursors or PageCursors(capacity=1)
    # One round trip: the page, the change marker, and the total unless the
    # remembered one was counted at the marker the page finds.
    seek = cursors.seek(selection, query.page_size, query.current_page)
    counted = cursors.counted(selection)
    marker, total, rows = reader.counted_entry_rows(
        selection, seek, query.page_size, None if counted is None else counted[0]
    )
    if total is None:
        assert counted is not None  # not counted: the marker was counted[0]
        total = counted[1]
    else:
        cursors.remember_count(selection, marker, total)
    total_pages = -(-total // query.page_size)
    if rows:
        last = rows[-1]
        cursors.remember(
            selection, query.page_size, query.current_page, (last.created_at, last.id)
        )
    return Page(query.current_page, query.page_size, total, total_pages, rows)


HF_WINDOW_MS = 3 * DAY_MS
MAX_HF_LIMIT = 200


@dataclass(frozen=True, slots=True)
class CursorLedgerQuery:
    """GET /api/v1/hf/accounts/ledgers and /api/v3/hf/margin/account/ledgers."""

    uid: str
    book: Book
    currencies: tuple[str, ...] = ()
    direction: str | None = None
    biz_codes: tuple[str, ...] = ()
    last_id: int | None = None
    limit: int = 100
    start_at: int | None = None
    end_at: int | None = None


def hf_window(start_at: int | None, end_at: int | None, now: int) -> tuple[int, int]:
    """The HF ledgers' 3 x 24 h rule. KuCoin clamps instead of refusing: none
    given, the last 72 h; one given, the other 72 h away; a wider range keeps
    its end and starts 72 h before it. start > end selects nothing."""
    if end_at is None:
        end_at = now if start_at is None else start_at + HF_WINDOW_MS
    if start_at is None or end_at - start_at > HF_WINDOW_MS:
        start_at = end_at - HF_WINDOW_MS
    return start_at, end_at


def cursor_ledger(
    reader: LedgerReader, query: CursorLedgerQuery, now: int
) -> list[LedgerRow]:
    """Entries with id < lastId (newest first: createdAt, then id, descending)."""
    if len(query.currencies) > MAX_CURRENCIES:
        raise InvalidInput(
            "currency", f"currency: at most {MAX_CURRENCIES} currencies may be given"
        )
    start, end = hf_window(query.start_at, query.end_at, now)
    known = reader.currencies()
    currencies = tuple(c for c in query.currencies if c in known)
    if (query.currencies and not currencies) or start > end:
        return []
    selection = LedgerFilter(
        uid=query.uid,
        book=query.book,
        start_at=start,
        end_at=end,
        currencies=currencies,
        direction=query.direction,
        biz_codes=query.biz_codes,
    )
    return canonical_amounts(
        reader.entry_rows_before(selection, query.last_id, query.limit)
    )


@dataclass(frozen=True, slots=True)
class FuturesLedgerQuery(ContractFilter):
    """GET /api/v1/transaction-history (the futures host): the entries and how
    many of them at most."""

    max_count: int = 50


def futures_ledger(
    reader: LedgerReader, query: FuturesLedgerQuery
) -> tuple[list[ContractRow], bool]:
    """The contract account's entries and whether more follow. forward=true
    (the default) walks from the newest entry back, ids below `offset`;
    forward=false walks from the oldest up, ids above it."""
    rows = reader.contract_rows(query, query.max_count + 1)
    return canonical_amounts(rows[: query.max_count]), len(rows) > query.max_count


Row = TypeVar("Row", LedgerRow, ContractRow)


def canonical_amounts(rows: list[Row]) -> list[Row]:
    """Rows with amount, fee and balance in canonical text.

    PostgreSQL's numeric::text keeps the stored scale ("60.06000000") where
    SQLite, the CLI and /api/v1/accounts say "60.06"; the futures ledger
    writes this text as a JSON number, so it must be exact and canonical too.
    """
    return [
        row._replace(
            amount=_canonical(row.amount),
            fee=_canonical(row.fee),
            balance=_canonical(row.balance),
        )
        for row in rows
    ]


def _canonical(text: str) -> str:
    return to_wire(Decimal(str(text)))
