"""The web explorer's read rules: an account's entries by keyset over its
sequence numbers, its balance over time downsampled to a bounded number of
buckets, and an operation with its hash-chain links.

Every page does bounded work whatever the database's size. An account's
entries are numbered 1, 2, 3... in time order (`seq`; retention only deletes
the oldest), so a time range is a seq range found with two seeks, a page is
a seek on (account_id, seq), and a filter (bizType, direction) examines at
most SCAN_ROWS entries per page: a sparse match pages on through the scanned
range instead of walking the whole account.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple, Protocol

from kuledger.domain.accounts import Account
from kuledger.domain.chain import GENESIS, entry_hash, entry_hash_v2, operation_digest
from kuledger.services.ports import StoredOperation

PAGE_SIZE = 50
SCAN_ROWS = 5_000  # entries a filtered page examines at most
MAX_BUCKETS = 600  # a chart's buckets: at most 4 vertices each (first, low, high, last)
EXACT_POINTS = 20_000  # up to this many entries a chart reads them all
SAMPLE_POINTS = 4_000  # beyond it, this many, evenly spaced by seq
CHECKPOINT_PAGE = 100


class EntryView(NamedTuple):
    """An entry with everything the explorer shows: amounts as decimal text."""

    id: int
    uid: str
    account_id: str
    account_type: str
    currency: str
    seq: int
    created_at: int
    amount: str
    fee: str
    balance: str
    direction: str
    biz_code: str
    context: str
    book: str
    op_uid: str | None
    op_id: str | None
    hash: str


class CheckpointRow(NamedTuple):
    account_id: str
    uid: str
    type: str
    currency: str
    seq: int
    verified_at: int


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Which of an account's entries a page shows. Times inclusive, in ms."""

    biz_codes: tuple[str, ...] = ()
    direction: str | None = None
    start_at: int | None = None
    end_at: int | None = None

    @property
    def narrows(self) -> bool:
        return bool(self.biz_codes) or self.direction is not None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page starts: older than `before`, or newer than `after` (seq)."""

    before: int | None = None
    after: int | None = None


@dataclass(frozen=True, slots=True)
class EntryPage:
    rows: list[EntryView]  # newest first
    older: int | None  # the `before` cursor of the next older page, if any
    newer: int | None  # the `after` cursor of the next newer page, if any
    examined: tuple[int, int] | None  # the seq range this page looked through


class ExplorerQueries(Protocol):
    def account(self, account_id: str) -> Account | None: ...
    def first_seq_at_or_after(self, account_id: str, at: int) -> int | None: ...
    def last_seq_at_or_before(self, account_id: str, at: int) -> int | None: ...
    def entry_window(
        self,
        account_id: str,
        seq_range: tuple[int, int],
        newest_first: bool,
        filters: EntryFilter,
        limit: int,
    ) -> list[EntryView]:
        """Entries of the account with lo <= seq <= hi that pass the filters,
        in seq order (descending if newest_first), at most `limit`."""
        ...

    def entries_at(self, account_id: str, seqs: Sequence[int]) -> list[EntryView]: ...
    def entries_by_id(self, ids: Sequence[int], created_at: int) -> list[EntryView]: ...
    def balance_points(
        self, account_id: str, seq_range: tuple[int, int]
    ) -> list[tuple[int, str]]:
        """(created_at, balance) of every entry in the seq range, by seq."""
        ...

    def balance_points_at(
        self, account_id: str, seqs: Sequence[int]
    ) -> list[tuple[int, str]]: ...
    def checkpoints(self, after: str | None, limit: int) -> list[CheckpointRow]: ...
    def checkpoints_of(self, uid: str) -> dict[str, CheckpointRow]: ...
    def last_verify_run(self) -> tuple[int, str] | None:
        """(verified_at, root) of the newest clean verify."""
        ...


# --- entries --------------------------------------------------------------------


def seq_range(
    q: ExplorerQueries, account: Account, filters: EntryFilter
) -> tuple[int, int] | None:
    """The seq range of the account's kept entries inside the time range (None:
    none): two seeks on (account_id, created_at, seq)."""
    lo, hi = account.base_seq + 1, account.seq
    if filters.start_at is not None:
        found = q.first_seq_at_or_after(account.id, filters.start_at)
        if found is None:
            return None
        lo = max(lo, found)
    if filters.end_at is not None:
        found = q.last_seq_at_or_before(account.id, filters.end_at)
        if found is None:
            return None
        hi = min(hi, found)
    return (lo, hi) if lo <= hi else None


def account_entries(
    q: ExplorerQueries,
    account: Account,
    filters: EntryFilter,
    cursor: Cursor,
    page_size: int = PAGE_SIZE,
    scan_rows: int = SCAN_ROWS,
) -> EntryPage:
    """One page of the account's entries, newest first. A filtered page looks
    through at most `scan_rows` entries; its `older`/`newer` cursors then
    continue from where it stopped, even if it found fewer than a page."""
    bounds = seq_range(q, account, filters)
    if bounds is None:
        return EntryPage([], None, None, None)
    lo, hi = bounds
    newest_first = cursor.after is None
    page_lo, page_hi = lo, hi
    if cursor.before is not None:
        page_hi = min(hi, cursor.before - 1)
    if cursor.after is not None:
        page_lo = max(lo, cursor.after + 1)
    if page_lo > page_hi:
        return EntryPage([], _below(page_hi + 1, lo), _above(page_lo - 1, hi), None)
    if filters.narrows and page_hi - page_lo + 1 > scan_rows:
        if newest_first:
            page_lo = page_hi - scan_rows + 1
        else:
            page_hi = page_lo + scan_rows - 1
    rows = q.entry_window(
        account.id, (page_lo, page_hi), newest_first, filters, page_size + 1
    )
    if len(rows) > page_size:
        rows = rows[:page_size]
        if newest_first:
            page_lo = rows[-1].seq
        else:
            page_hi = rows[-1].seq
    if not newest_first:
        rows.reverse()
    return EntryPage(rows, _below(page_lo, lo), _above(page_hi, hi), (page_lo, page_hi))


def _below(page_lo: int, lo: int) -> int | None:
    return page_lo if page_lo > lo else None


def _above(page_hi: int, hi: int) -> int | None:
    return page_hi if page_hi < hi else None


# --- the balance chart ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bucket:
    """The entries of one time slice: when, how many, and the balance's
    first, lowest, highest and last value in it."""

    start: int
    end: int
    count: int
    first: Decimal
    low: Decimal
    high: Decimal
    last: Decimal


def downsample(points: Sequence[tuple[int, Decimal]], buckets: int) -> list[Bucket]:
    """Points (time, balance), in time order, as at most `buckets` equal time
    slices (empty slices left out). Each keeps its first, min, max and last
    value, so a line through them shows every spike a full plot would."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    if not points:
        return []
    t0, t1 = points[0][0], points[-1][0]
    width = max(1, math.ceil((t1 - t0 + 1) / buckets))
    out: list[Bucket] = []
    index, start = -1, 0
    first = low = high = last = Decimal(0)
    count = end = 0
    for t, value in points:
        slot = (t - t0) // width
        if slot != index:
            if count:
                out.append(Bucket(start, end, count, first, low, high, last))
            index, start, count = slot, t, 0
            first = low = high = value
        low, high = min(low, value), max(high, value)
        last, end = value, t
        count += 1
    out.append(Bucket(start, end, count, first, low, high, last))
    return out


@dataclass(frozen=True, slots=True)
class Series:
    buckets: list[Bucket]
    entries: int  # in the time range
    read: int  # of them read: all, or an even sample
    sampled: bool


def sample_seqs(lo: int, hi: int, count: int) -> list[int]:
    """`count` seqs evenly spaced from lo to hi, both ends included."""
    if hi - lo + 1 <= count:
        return list(range(lo, hi + 1))
    step = (hi - lo) / (count - 1)
    return sorted({lo + round(i * step) for i in range(count)})


def balance_series(
    q: ExplorerQueries,
    account: Account,
    filters: EntryFilter,
    buckets: int = MAX_BUCKETS,
    exact: int = EXACT_POINTS,
    sample: int = SAMPLE_POINTS,
) -> Series:
    """The account's post-balances over the time range, downsampled: every
    entry up to `exact` entries, beyond that an even sample by seq (so the
    cost is bounded; the chart says when it is a sample)."""
    bounds = seq_range(q, account, filters)
    if bounds is None:
        return Series([], 0, 0, False)
    lo, hi = bounds
    total = hi - lo + 1
    if total <= exact:
        raw = q.balance_points(account.id, bounds)
    else:
        raw = q.balance_points_at(account.id, sample_seqs(lo, hi, sample))
    points = [(t, Decimal(b)) for t, b in raw]
    return Series(downsample(points, buckets), total, len(points), total > exact)


# --- an operation and its chain links -------------------------------------------


@dataclass(frozen=True, slots=True)
class Leg:
    """One entry of an operation, with the link to its account's previous entry."""

    entry: EntryView
    prev_hash: str
    prev: EntryView | None  # None: the first kept entry (genesis or retention base)
    link_ok: bool  # the stored hash is the one its fields and prev_hash give


def operation_legs(
    q: ExplorerQueries, record: StoredOperation, entry_ids: Sequence[int]
) -> list[Leg]:
    """The operation's entries, each with its chain link recomputed."""
    digest = record_digest(record)
    legs = []
    for e in q.entries_by_id(entry_ids, record.created_at):
        prev = q.entries_at(e.account_id, [e.seq - 1]) if e.seq > 1 else []
        if prev:
            prev_hash = prev[0].hash
        else:
            account = q.account(e.account_id)
            prev_hash = account.base_hash if account else GENESIS
        legs.append(
            Leg(e, prev_hash, prev[0] if prev else None, link(e, prev_hash, digest))
        )
    return legs


def record_digest(record: StoredOperation) -> str:
    """The digest of the operation record that its entries' v2 hashes bind."""
    return operation_digest(
        record.uid, record.op_id, record.fingerprint, record.result, record.created_at
    )


def link(e: EntryView, prev_hash: str, digest: str) -> bool:
    fields = (
        prev_hash, e.id, e.uid, e.account_id, e.account_type, e.currency,
        Decimal(e.amount), Decimal(e.fee), Decimal(e.balance), e.direction,
        e.biz_code, e.created_at, e.context, e.seq,
    )  # fmt: skip
    if not e.op_uid and not e.op_id:  # written before chain v2
        return entry_hash(*fields) == e.hash
    return entry_hash_v2(*fields, e.book, digest) == e.hash
