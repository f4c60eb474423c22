"""The read side's rules: ledger windows, paging and filters, as KuCoin has them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kuledger.domain import biztypes
from kuledger.domain.accounts import Book
from kuledger.domain.errors import InvalidInput
from kuledger.services.ports import LedgerFilter, LedgerReader

DAY_MS = 86_400_000
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
    rows: list[tuple[Any, ...]]


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
    reader: LedgerReader, query: SpotLedgerQuery, now: int, retention_days: int
) -> Page:
    """One page of the classic (spot/margin) ledger, newest first."""
    if len(query.currencies) > MAX_CURRENCIES:
        raise InvalidInput("currency", "at most 10 currencies may be given")
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
    total = reader.count_entries(selection)
    total_pages = -(-total // query.page_size)
    offset = (query.current_page - 1) * query.page_size
    rows = (
        reader.entry_rows(selection, offset, query.page_size) if offset < total else []
    )
    return Page(query.current_page, query.page_size, total, total_pages, rows)
