"""PageCursors: where pages start, what is forgotten, when counts are stale."""

from __future__ import annotations

from kuledger.domain.accounts import Book
from kuledger.services.paging import PageCursors, Seek
from kuledger.services.ports import LedgerFilter

Q = LedgerFilter(uid="u1", book=Book.SPOT, start_at=0, end_at=10)
OTHER = LedgerFilter(uid="u2", book=Book.SPOT, start_at=0, end_at=10)


def test_an_unknown_query_starts_with_a_plain_offset():
    assert PageCursors().seek(Q, 50, 3) == Seek(None, 100)


def test_the_next_page_seeks_past_the_previous_page_without_offset():
    cursors = PageCursors()
    cursors.remember(Q, 50, 1, (1000, 77))
    assert cursors.seek(Q, 50, 2) == Seek((1000, 77), 0)


def test_a_jump_ahead_continues_from_the_nearest_earlier_page():
    cursors = PageCursors()
    cursors.remember(Q, 50, 1, (1000, 77))
    cursors.remember(Q, 50, 4, (900, 12))
    assert cursors.seek(Q, 50, 7) == Seek((900, 12), 100)
    assert cursors.seek(Q, 50, 3) == Seek((1000, 77), 50)


def test_positions_are_kept_per_query_and_page_size():
    cursors = PageCursors()
    cursors.remember(Q, 50, 1, (1000, 77))
    assert cursors.seek(OTHER, 50, 2) == Seek(None, 50)
    assert cursors.seek(Q, 10, 2) == Seek(None, 10)


def test_the_least_recently_used_query_is_forgotten_first():
    cursors = PageCursors(capacity=1)
    cursors.remember(Q, 50, 1, (1000, 77))
    cursors.remember(OTHER, 50, 1, (5, 5))
    assert cursors.seek(Q, 50, 2) == Seek(None, 50)
    assert cursors.seek(OTHER, 50, 2) == Seek((5, 5), 0)


def test_a_count_is_remembered_with_the_marker_it_was_counted_at():
    cursors = PageCursors()
    cursors.remember_count(Q, marker=7, count=123)
    assert cursors.counted(Q) == (7, 123)
    assert cursors.counted(OTHER) is None
