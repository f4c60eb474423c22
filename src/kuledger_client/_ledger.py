"""Walking a ledger over any time range, without I/O: the windows to ask for,
the requests of each window, and which items are new.

Exactly once: KuCoin's windows are inclusive at both ends and at most 24 h
wide, so consecutive windows are [a, a+24h-1], [a+24h, a+48h-1], ...: an entry
belongs to exactly one window even when timestamps repeat at a boundary.
Inside a window pages are walked from the newest end. An entry that arrives
meanwhile pushes older ones onto later pages (offset paging), so a page may
repeat items of the previous one: each window keeps the ids it has yielded and
skips repeats. Only the current window's ids are kept, so memory does not grow
with the range.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from kuledger_client._models import (
    AnyLedgerEntry,
    FuturesLedgerPage,
    LedgerEntry,
    SpotLedgerPage,
)

DAY_MS = 86_400_000  # kuledger.domain.times's, copied: the SDK never imports the server
LedgerName = Literal["spot", "hf", "margin-hf", "futures"]
LEDGERS: tuple[LedgerName, ...] = ("spot", "hf", "margin-hf", "futures")
SPOT_PAGE_SIZE = 500  # KuCoin's maximum
HF_LIMIT = 200  # KuCoin's maximum
FUTURES_MAX_COUNT = 50  # KuCoin's default; it documents no maximum
MAX_CURRENCIES = 10  # per request

PATHS: dict[LedgerName, str] = {
    "spot": "/api/v1/accounts/ledgers",
    "hf": "/api/v1/hf/accounts/ledgers",
    "margin-hf": "/api/v3/hf/margin/account/ledgers",
    "futures": "/api/v1/transaction-history",
}


def to_ms(value: int | datetime) -> int:
    """Milliseconds since the epoch; a naive datetime is taken as UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    return int(value)


def ledger_windows(
    start: int | datetime, end: int | datetime, *, newest_first: bool = True
) -> Iterator[tuple[int, int]]:
    """Consecutive, non-overlapping inclusive windows of at most 24 h (minus
    1 ms) covering [start, end]."""
    start_ms, end_ms = to_ms(start), to_ms(end)
    if newest_first:
        high = end_ms
        while high >= start_ms:
            low = max(start_ms, high - DAY_MS + 1)
            yield low, high
            high = low - 1
    else:
        low = start_ms
        while low <= end_ms:
            high = min(end_ms, low + DAY_MS - 1)
            yield low, high
            low = high + 1


def window_count(start: int | datetime, end: int | datetime) -> int:
    span = to_ms(end) - to_ms(start) + 1
    return max(0, -(-span // DAY_MS))


def order_key(entry: AnyLedgerEntry) -> tuple[int, int, str]:
    """Time, then id: numeric ids compare as numbers, 24-hex ids as text."""
    return (entry.created_at, len(entry.id), entry.id)


@dataclass(frozen=True, slots=True)
class Filters:
    currencies: tuple[str, ...] = ()
    biz_type: str | None = None
    direction: str | None = None


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which SDK method to call for the next page, with its keyword arguments."""

    method: str
    kwargs: dict[str, Any]


class WindowWalk:
    """The pages of one window of one ledger: `next_request()` says what to
    ask for (None when done), `feed(result)` takes the answer and returns the
    entries not yet seen in this window."""

    def __init__(
        self,
        ledger: LedgerName,
        window: tuple[int, int],
        filters: Filters,
        currency: str | None,
    ) -> None:
        self.ledger = ledger
        self.start, self.end = window
        self.filters = filters
        self.currency = currency
        self._seen: set[str] = set()
        self._page = 1
        self._cursor: str | int | None = None
        self._done = False

    def next_request(self) -> PageRequest | None:
        if self._done:
            return None
        common: dict[str, Any] = {
            "currency": self.currency,
            "start_at": self.start,
            "end_at": self.end,
        }
        if self.ledger == "spot":
            return PageRequest(
                "get_spot_ledger",
                {
                    **common,
                    "direction": self.filters.direction,
                    "biz_type": self.filters.biz_type,
                    "current_page": self._page,
                    "page_size": SPOT_PAGE_SIZE,
                },
            )
        if self.ledger in ("hf", "margin-hf"):
            method = (
                "get_spot_hf_ledger" if self.ledger == "hf" else "get_margin_hf_ledger"
            )
            return PageRequest(
                method,
                {
                    **common,
                    "direction": self.filters.direction,
                    "biz_type": self.filters.biz_type,
                    "last_id": self._cursor,
                    "limit": HF_LIMIT,
                },
            )
        return PageRequest(
            "get_futures_ledger",
            {
                **common,
                "type": self.filters.biz_type,
                "offset": self._cursor,
                "forward": True,
                "max_count": FUTURES_MAX_COUNT,
            },
        )

    def _advance(self, cursor: str | int | None) -> None:
        """Move the cursor; a server that does not move it ends the walk."""
        if cursor is None or cursor == self._cursor:
            self._done = True
        self._cursor = cursor

    def feed(self, result: Any) -> list[AnyLedgerEntry]:
        items: Sequence[AnyLedgerEntry]
        if isinstance(result, SpotLedgerPage):
            items = result.items
            # totalPage of the latest answer: entries that arrived meanwhile count
            self._done = not items or self._page >= result.total_page
            self._page += 1
        elif isinstance(result, FuturesLedgerPage):
            items = result.items
            offsets = [i.offset for i in items if i.offset >= 0]  # Pending: -1
            self._done = not offsets or not result.has_more
            self._advance(offsets[-1] if offsets else None)
        else:
            items = result
            self._done = len(items) < HF_LIMIT
            if items:
                last = items[-1]
                assert isinstance(last, LedgerEntry)
                self._advance(last.raw.get("id", last.id))
        fresh: list[AnyLedgerEntry] = []
        for entry in items:
            if entry.id not in self._seen:
                self._seen.add(entry.id)
                fresh.append(entry)
        if self.ledger == "futures":  # a Pending row is an open position, not history
            fresh = [e for e in fresh if getattr(e, "status", "") != "Pending"]
        return fresh


def window_plan(
    ledger: LedgerName, window: tuple[int, int], filters: Filters
) -> tuple[list[WindowWalk], bool]:
    """The walks that cover one window (one per currency group), and whether
    their output is already newest first (else the caller sorts the window)."""
    currencies = filters.currencies
    groups: list[str | None]
    if ledger == "futures":
        groups = list(currencies) or [None]  # one currency per request
    elif currencies:
        groups = [
            ",".join(currencies[i : i + MAX_CURRENCIES])
            for i in range(0, len(currencies), MAX_CURRENCIES)
        ]
    else:
        groups = [None]
    streams_in_order = ledger != "futures" and len(groups) == 1
    return [WindowWalk(ledger, window, filters, g) for g in groups], streams_in_order
