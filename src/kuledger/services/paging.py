"""Keeping KuCoin's page numbers cheap at any depth.

KuCoin's classic ledger pages by number (currentPage/pageSize). Answered with
OFFSET, page 1000 costs the database a walk over 99,900 rows first. Clients
walk pages in order, so we remember where each recently served page ended: a
request for page N of the same query then seeks straight past the last row of
page N-1 (a keyset seek) and only rows of page N are read. Requests that jump
ahead fall back to the nearest remembered page plus a small OFFSET.

The total count is cached per query and recounted only when the user's ledger
changed (the sum of their accounts' sequence numbers moves with every entry).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from kuledger.services.ports import LedgerFilter, Position, Seek


class PageCursors:
    """An LRU of page-end positions and counts, per (query, page size)."""

    def __init__(self, capacity: int = 4096, pages_per_query: int = 4096) -> None:
        self._capacity = capacity
        self._pages_per_query = pages_per_query
        self._ends: OrderedDict[tuple[LedgerFilter, int], dict[int, Position]] = (
            OrderedDict()
        )
        self._counts: OrderedDict[LedgerFilter, tuple[int, int]] = OrderedDict()
        self._lock = threading.Lock()

    def seek(self, query: LedgerFilter, page_size: int, page: int) -> Seek:
        """Where page `page` starts: after the nearest remembered earlier page."""
        with self._lock:
            ends = self._ends.get((query, page_size))
            if not ends:
                return Seek(None, (page - 1) * page_size)
            self._ends.move_to_end((query, page_size))
            if page - 1 in ends:  # the sequential walk: no OFFSET at all
                return Seek(ends[page - 1], 0)
            earlier = [p for p in ends if p < page]
            if not earlier:
                return Seek(None, (page - 1) * page_size)
            nearest = max(earlier)
            return Seek(ends[nearest], (page - 1 - nearest) * page_size)

    def remember(
        self, query: LedgerFilter, page_size: int, page: int, end: Position
    ) -> None:
        with self._lock:
            ends = self._ends.setdefault((query, page_size), {})
            self._ends.move_to_end((query, page_size))
            if len(ends) >= self._pages_per_query and page not in ends:
                ends.pop(min(ends))
            ends[page] = end
            while len(self._ends) > self._capacity:
                self._ends.popitem(last=False)

    def counted(self, query: LedgerFilter) -> tuple[int, int] | None:
        """The (marker, total) remembered for `query`: the total is good while
        the user's marker is still that one."""
        with self._lock:
            cached = self._counts.get(query)
            if cached is not None:
                self._counts.move_to_end(query)
            return cached

    def remember_count(self, query: LedgerFilter, marker: int, count: int) -> None:
        with self._lock:
            self._counts[query] = (marker, count)
            self._counts.move_to_end(query)
            while len(self._counts) > self._capacity:
                self._counts.popitem(last=False)
