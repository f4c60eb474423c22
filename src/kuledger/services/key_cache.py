"""A worker's cache of API key rows, trusted only while a change feed is heard.

Authentication reads the key's row (owner, permissions, IP whitelist, VIP
level, sealed secret, revocation) on every signed request. `KeyCache` keeps
recently used rows so that a request need not ask the database, under three
rules that keep every change (a revoke, new permissions, whitelist, passphrase
or VIP level, by any process) effective on every worker within a second:

- A feed (`KeyFeed`: LISTEN/NOTIFY on PostgreSQL) drops a row as soon as it is
  told of its change, and confirms now and then that it has delivered every
  change committed before a time. A row is served only while the last
  confirmation is younger than `liveness_s`; a feed that is lost or silent
  leaves the cache bypassed (every request reads the database) and emptied.
- A read that a change overtook is not stored: every change moves a
  generation, and a row is stored only if the generation is the one seen
  before the read.
- A change this process commits is applied to its caches at once, after the
  commit (`changed_here`), without waiting for the feed's echo.

Rows are also dropped after `ttl_s` whatever the feed says, the cache holds at
most `size` rows (least recently used first out), and only live keys are
stored: an unknown or revoked key name is read from the database each time,
so guessed names cannot fill the cache or push real keys out.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Protocol

from kuledger.services.ports import StoredKey

LIVENESS_S = 1.0  # a row is served only this long after the feed's last word
DEFAULT_SIZE = 4096


class KeyChangeSink(Protocol):
    """What a feed tells the cache."""

    def key_changed(self, key: str) -> None: ...
    def user_changed(self, uid: str) -> None: ...
    def all_changed(self) -> None: ...
    def confirmed(self, at: float) -> None:
        """Every change committed before `at` (the cache's clock) was told."""
        ...

    def lost(self) -> None:
        """The feed can no longer tell: trust nothing until it confirms."""
        ...


class KeyFeed(Protocol):
    """Where changes come from; started by the cache's first lookup (in the
    worker process, after any fork)."""

    def start(self, sink: KeyChangeSink) -> None: ...
    def stop(self) -> None: ...


Loader = Callable[[str], StoredKey | None]


class KeyCache:
    """KeyChangeSink: the rows of one process's live keys (module docstring)."""

    def __init__(
        self,
        feed: KeyFeed,
        *,
        ttl_s: float,
        size: int = DEFAULT_SIZE,
        liveness_s: float = LIVENESS_S,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._feed = feed
        self._ttl = ttl_s
        self._size = size
        self._liveness = liveness_s
        self._now = now
        self._lock = threading.Lock()
        self._rows: OrderedDict[str, tuple[float, StoredKey]] = OrderedDict()
        self._generation = 0
        self._confirmed: float | None = None
        self._pid = 0  # the process the feed was started in
        with _CACHES_LOCK:
            _CACHES.add(self)

    def get(self, name: str, load: Loader) -> StoredKey | None:
        """The live key `name`'s row, cached or from `load`; a revoked key's
        row or None from `load` as it is (neither is stored)."""
        self._start()
        now = self._now()
        with self._lock:
            trusted = self._trusted(now)
            if trusted:
                found = self._rows.get(name)
                if found is not None and now - found[0] < self._ttl:
                    self._rows.move_to_end(name)
                    return found[1]
            generation = self._generation
        stored = load(name)
        if trusted and stored is not None and stored.revoked_at is None:
            self._store(name, stored, now, generation)
        return stored

    def __len__(self) -> int:
        return len(self._rows)

    def stop(self) -> None:
        self._feed.stop()

    # --- KeyChangeSink ---

    def key_changed(self, key: str) -> None:
        with self._lock:
            self._generation += 1
            self._rows.pop(key, None)

    def user_changed(self, uid: str) -> None:
        with self._lock:
            self._generation += 1
            for name in [n for n, (_, row) in self._rows.items() if row.uid == uid]:
                del self._rows[name]

    def all_changed(self) -> None:
        with self._lock:
            self._generation += 1
            self._rows.clear()

    def confirmed(self, at: float) -> None:
        with self._lock:
            if self._confirmed is None or at > self._confirmed:
                self._confirmed = at

    def lost(self) -> None:
        with self._lock:
            self._generation += 1
            self._rows.clear()
            self._confirmed = None

    # --- inside ---

    def _start(self) -> None:
        """Start the feed in this process: on the first lookup, and again in
        a forked child, which trusts nothing it inherited."""
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._lock:
            starting, self._pid = self._pid != pid, pid
            if starting:
                self._generation += 1
                self._rows.clear()
                self._confirmed = None
        if starting:
            self._feed.start(self)

    def _trusted(self, now: float) -> bool:
        return self._confirmed is not None and now - self._confirmed < self._liveness

    def _store(
        self, name: str, row: StoredKey, read_at: float, generation: int
    ) -> None:
        with self._lock:
            if generation != self._generation or not self._trusted(self._now()):
                return  # a change (or the feed's loss) overtook the read
            self._rows[name] = (read_at, row)
            self._rows.move_to_end(name)
            while len(self._rows) > self._size:
                self._rows.popitem(last=False)


_CACHES: weakref.WeakSet[KeyCache] = weakref.WeakSet()
_CACHES_LOCK = threading.Lock()


def changed_here(keys: Iterable[str], uids: Iterable[str]) -> None:
    """Apply a change this process has just committed to every cache in it
    (the feed tells the other processes, and this one again, later)."""
    keys, uids = list(keys), list(uids)
    with _CACHES_LOCK:
        caches = list(_CACHES)
    for cache in caches:
        for key in keys:
            cache.key_changed(key)
        for uid in uids:
            cache.user_changed(uid)
