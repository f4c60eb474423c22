"""KeyCache's rules with a hand-driven feed and clock: what is served from the
cache, what is read, and what a change, a lost feed or a silent one does."""

from __future__ import annotations

import dataclasses

import pytest

from kuledger.services import key_cache
from kuledger.services.key_cache import KeyCache, KeyChangeSink, changed_here
from kuledger.services.ports import StoredKey


class Feed:
    """A KeyFeed the test speaks for."""

    def __init__(self) -> None:
        self.sink: KeyChangeSink | None = None
        self.starts = 0

    def start(self, sink: KeyChangeSink) -> None:
        self.sink = sink
        self.starts += 1

    def stop(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Table:
    """The database: rows by key, and how many times each was read."""

    def __init__(self, *rows: StoredKey) -> None:
        self.rows = {r.key: r for r in rows}
        self.reads = 0

    def load(self, name: str) -> StoredKey | None:
        self.reads += 1
        return self.rows.get(name)


def _row(
    key: str = "k1", uid: str = "alice", permissions: str = "General"
) -> StoredKey:
    return StoredKey(key, uid, b"sealed", permissions, "", 3, 1, None, 0)


def _cache(clock: Clock, ttl_s: float = 60, size: int = 100) -> tuple[KeyCache, Feed]:
    feed = Feed()
    cache = KeyCache(feed, ttl_s=ttl_s, size=size, now=clock)
    return cache, feed


def _listening(clock: Clock, **kwargs: float) -> tuple[KeyCache, Feed]:
    cache, feed = _cache(clock, **kwargs)
    cache.get("nothing", lambda _: None)  # starts the feed
    cache.confirmed(clock.now)
    return cache, feed


def test_the_feed_starts_on_the_first_lookup_and_once():
    clock = Clock()
    cache, feed = _cache(clock)
    assert feed.starts == 0
    cache.get("k1", Table().load)
    cache.get("k1", Table().load)
    assert feed.starts == 1 and feed.sink is cache


def test_a_forked_child_starts_its_own_feed_and_trusts_nothing_inherited(
    monkeypatch: pytest.MonkeyPatch,
):
    clock, table = Clock(), Table(_row())
    cache, feed = _listening(clock)
    cache.get("k1", table.load)
    monkeypatch.setattr(key_cache.os, "getpid", lambda: -1)  # now the child
    cache.get("k1", table.load)
    cache.get("k1", table.load)
    assert feed.starts == 2 and table.reads == 3


def test_nothing_is_cached_before_the_feed_confirms():
    clock, table = Clock(), Table(_row())
    cache, _ = _cache(clock)
    for _ in range(3):
        assert cache.get("k1", table.load) == _row()
    assert table.reads == 3 and len(cache) == 0


def test_a_confirmed_feed_serves_a_row_from_the_cache():
    clock, table = Clock(), Table(_row())
    cache, _ = _listening(clock)
    for _ in range(3):
        assert cache.get("k1", table.load) == _row()
    assert table.reads == 1


def test_a_changed_key_is_read_again_with_its_new_row():
    clock, table = Clock(), Table(_row())
    cache, _ = _listening(clock)
    cache.get("k1", table.load)
    table.rows["k1"] = _row(permissions="General,Spot")
    cache.key_changed("k1")
    assert cache.get("k1", table.load).permissions == "General,Spot"
    assert table.reads == 2


def test_a_changed_user_drops_every_key_of_that_user_only():
    clock = Clock()
    table = Table(_row("a1"), _row("a2"), _row("b1", uid="bob"))
    cache, _ = _listening(clock)
    for key in ("a1", "a2", "b1"):
        cache.get(key, table.load)
    cache.user_changed("alice")
    for key in ("a1", "a2", "b1"):
        cache.get(key, table.load)
    assert table.reads == 3 + 2


def test_all_changed_empties_the_cache():
    clock, table = Clock(), Table(_row("a1"), _row("b1", uid="bob"))
    cache, _ = _listening(clock)
    cache.get("a1", table.load)
    cache.get("b1", table.load)
    cache.all_changed()
    assert len(cache) == 0


def test_a_lost_feed_empties_the_cache_and_every_lookup_reads_until_it_confirms():
    clock, table = Clock(), Table(_row())
    cache, _ = _listening(clock)
    cache.get("k1", table.load)
    cache.lost()
    assert len(cache) == 0
    for _ in range(3):
        cache.get("k1", table.load)
    assert table.reads == 1 + 3 and len(cache) == 0
    cache.confirmed(clock.now)
    cache.get("k1", table.load)
    cache.get("k1", table.load)
    assert table.reads == 1 + 3 + 1


def test_a_silent_feed_is_not_trusted_after_its_liveness_second():
    clock, table = Clock(), Table(_row())
    cache, _ = _listening(clock)
    cache.get("k1", table.load)
    clock.now += 0.9
    cache.get("k1", table.load)
    assert table.reads == 1
    clock.now += 0.2  # 1.1 s after the last confirmation
    cache.get("k1", table.load)
    cache.get("k1", table.load)
    assert table.reads == 3


def test_an_older_confirmation_does_not_move_trust_back():
    clock, table = Clock(), Table(_row())
    cache, _ = _listening(clock)
    cache.confirmed(clock.now - 5)
    cache.get("k1", table.load)
    cache.get("k1", table.load)
    assert table.reads == 1


def test_a_row_older_than_the_ttl_is_read_again():
    clock, table = Clock(), Table(_row())
    cache, _ = _listening(clock, ttl_s=2)
    cache.get("k1", table.load)
    for _ in range(3):
        clock.now += 0.9
        cache.confirmed(clock.now)
        cache.get("k1", table.load)
    assert table.reads == 2  # at 2.7 s the row of 0 s was too old


def test_a_read_overtaken_by_a_change_is_not_stored():
    clock = Clock()
    cache, _ = _listening(clock)
    old, new = _row(), _row(permissions="General,Spot")

    def load_during_a_change(name: str) -> StoredKey:
        cache.key_changed(name)  # committed while the old row was on its way
        return old

    assert cache.get("k1", load_during_a_change) == old
    table = Table(new)
    assert cache.get("k1", table.load) == new
    assert table.reads == 1


def test_a_read_overtaken_by_the_feeds_loss_is_not_stored():
    clock = Clock()
    cache, _ = _listening(clock)

    def load_while_the_feed_is_lost(name: str) -> StoredKey:
        cache.lost()
        cache.confirmed(clock.now)
        return _row()

    cache.get("k1", load_while_the_feed_is_lost)
    assert len(cache) == 0


def test_unknown_and_revoked_keys_are_never_stored():
    clock = Clock()
    revoked = dataclasses.replace(_row("gone"), revoked_at=5)
    table = Table(revoked)
    cache, _ = _listening(clock)
    for name in ("gone", "unknown", "gone", "unknown"):
        cache.get(name, table.load)
    assert table.reads == 4 and len(cache) == 0
    assert cache.get("gone", table.load) == revoked


def test_the_cache_keeps_its_size_dropping_the_least_recently_used():
    clock = Clock()
    table = Table(*(_row(f"k{i}") for i in range(4)))
    cache, _ = _listening(clock, size=3)
    for name in ("k0", "k1", "k2", "k0", "k3"):  # k1 is the least recent
        cache.get(name, table.load)
    assert len(cache) == 3
    reads = table.reads
    cache.get("k0", table.load)
    cache.get("k3", table.load)
    assert table.reads == reads
    cache.get("k1", table.load)
    assert table.reads == reads + 1


def test_a_change_committed_here_reaches_every_cache_of_the_process_at_once():
    clock = Clock()
    table = Table(_row("a1"), _row("b1", uid="bob"))
    first, _ = _listening(clock)
    second, _ = _listening(clock)
    for cache in (first, second):
        cache.get("a1", table.load)
        cache.get("b1", table.load)
    changed_here(["a1"], ["bob"])
    assert len(first) == 0 and len(second) == 0
