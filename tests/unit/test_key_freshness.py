"""The SQLite worker's key cache: rows are trusted for a bounded time only."""

from __future__ import annotations

from kuledger.services.key_freshness import KEY_TTL_S, TtlFreshness


def test_a_row_is_current_for_the_ttl_and_not_after():
    now = [10_000_000_000]
    freshness = TtlFreshness(0.5, lambda: now[0])
    stamp = freshness.stamp()
    assert stamp is not None and freshness.current(stamp)
    now[0] += 499_999_999
    assert freshness.current(stamp)
    now[0] += 1
    assert not freshness.current(stamp)


def test_the_default_ttl_keeps_the_one_second_promise():
    assert 0 < KEY_TTL_S < 1.0
