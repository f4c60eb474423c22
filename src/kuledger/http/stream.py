"""The balance stream inside one process: who listens, and what they are sent.

`BalanceHub` keeps the WebSocket connections subscribed to /account/balance by
uid. Changes reach it from worker threads (an EventSink, when one process
serves alone) or from the Redis listener (when KULEDGER_REDIS_URL is set); it
renders each change once as KuCoin's message and hands it to every connection
of that uid through the connection's event loop (call_soon_threadsafe), so one
publisher's changes arrive in the order it published them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from kuledger.domain.accounts import AccountType
from kuledger.domain.events import BalanceChange
from kuledger.domain.money import to_wire
from kuledger.http.stream_tokens import StreamTokens
from kuledger.services.ports import StoredKey

log = logging.getLogger("kuledger.stream")

TOPIC = "/account/balance"
SUBJECT = "account.balance"
WS_PATH = "/ws/private"
MAX_PENDING = 10_000  # messages queued for one connection before it is closed
# How often the keys of open connections are looked up again: a revoked key's
# connections close within this (and one lookup) of the revocation.
KEY_CHECK_S = 0.5
# Futures balances are KuCoin's /contractAccount/wallet channel, not this one.
STREAMED_TYPES = frozenset(t for t in AccountType if t is not AccountType.CONTRACT)


@dataclass(frozen=True, slots=True)
class Close:
    """Queued to make a connection's writer close it."""

    code: int
    reason: str


Outgoing = str | Close  # a text frame to send, or the end


def relation_context(text: str) -> dict[str, Any]:
    """The entry's context as a JSON object; {} when empty or not an object."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def balance_message(change: BalanceChange) -> dict[str, Any]:
    """KuCoin's /account/balance push for one change."""
    return {
        "topic": TOPIC,
        "type": "message",
        "subject": SUBJECT,
        "id": change.relation_event_id,
        "userId": change.uid,
        "channelType": "private",
        "data": {
            "accountId": change.account_id,
            "available": to_wire(change.available),
            "availableChange": to_wire(change.available_change),
            "currency": change.currency,
            "hold": to_wire(change.hold),
            "holdChange": to_wire(change.hold_change),
            "relationContext": relation_context(change.relation_context),
            "relationEvent": change.relation_event,
            "relationEventId": change.relation_event_id,
            "time": str(change.time),
            "total": to_wire(change.total),
        },
    }


class Subscriber:
    """One connection's outbox, fed from any thread through its event loop."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, outbox: asyncio.Queue[Outgoing]
    ) -> None:
        self._loop = loop
        self._outbox = outbox
        self._closing = False

    def offer(self, frames: Sequence[str]) -> None:
        """Queue `frames` (in order) from any thread."""
        self._call(self._put, frames)

    def close(self, code: int, reason: str) -> None:
        self._call(self._end, code, reason)

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        # A closed loop (RuntimeError) means a closed connection: nothing to do.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)

    def _put(self, frames: Sequence[str]) -> None:
        if self._closing:
            return
        if self._outbox.qsize() + len(frames) > MAX_PENDING:
            log.warning("balance stream: a client reads too slowly; closing it")
            self._end(1013, "too many messages pending; reconnect")
            return
        for frame in frames:
            self._outbox.put_nowait(frame)

    def _end(self, code: int, reason: str) -> None:
        if not self._closing:
            self._closing = True
            self._outbox.put_nowait(Close(code, reason))


class BalanceHub:
    """The EventSink of a process serving alone, and the subscription registry.

    `feed_ready(timeout)`, when given, starts the feed that calls `deliver` (the
    Redis listener) and tells whether it is live; without it the hub is its own
    feed (its `publish` is the ledger's EventSink) and is always live.
    """

    def __init__(self, feed_ready: Callable[[float], bool] | None = None) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._feed_ready = feed_ready

    def publish(self, changes: Sequence[BalanceChange]) -> None:
        """EventSink: called after each commit, from the thread that made it."""
        self.deliver(changes)

    def deliver(self, changes: Sequence[BalanceChange]) -> None:
        with self._lock:
            targets = {
                c.uid: list(self._subscribers[c.uid])
                for c in changes
                if c.uid in self._subscribers
            }
        if not targets:
            return
        frames: dict[str, list[str]] = {}
        for change in changes:
            if change.uid in targets and change.account_type in STREAMED_TYPES:
                frame = json.dumps(balance_message(change), separators=(",", ":"))
                frames.setdefault(change.uid, []).append(frame)
        for uid, uid_frames in frames.items():
            for subscriber in targets[uid]:
                subscriber.offer(uid_frames)

    def ready(self, timeout: float) -> bool:
        return True if self._feed_ready is None else self._feed_ready(timeout)

    def add(self, uid: str, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.setdefault(uid, set()).add(subscriber)

    def remove(self, uid: str, subscriber: Subscriber) -> None:
        with self._lock:
            subscribers = self._subscribers.get(uid)
            if subscribers is not None:
                subscribers.discard(subscriber)
                if not subscribers:
                    del self._subscribers[uid]

    def interrupted(self) -> None:
        """The feed lost changes (Redis went away): close every subscribed
        connection, so its client reconnects and knows to re-read balances."""
        with self._lock:
            everyone = [s for subs in self._subscribers.values() for s in subs]
        for subscriber in everyone:
            subscriber.close(1011, "balance stream interrupted; reconnect")


KeyLookup = Callable[[str], StoredKey | None]
Owner = tuple[str, str]  # (API key, uid) a connection was opened with


class KeyWatch:
    """Closes the connections of a key that is revoked (or deleted) while they
    are open. Keys are revoked in the database, often by the CLI in another
    process, so while connections are open one task asks the database every
    KEY_CHECK_S for each distinct key of them, on SQLite and PostgreSQL alike.
    """

    def __init__(self, interval_s: float = KEY_CHECK_S) -> None:
        self._interval = interval_s
        self._open: dict[Owner, dict[object, Callable[[], object]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def watch(
        self,
        owner: Owner,
        token: object,
        revoked: Callable[[], None],
        lookup: KeyLookup,
    ) -> None:
        """Call `revoked` (on the calling loop) once `owner`'s key is revoked;
        `token` identifies the connection for `forget`."""
        loop = asyncio.get_running_loop()
        self._open.setdefault(owner, {})[token] = functools.partial(
            loop.call_soon_threadsafe, revoked
        )
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(lookup))

    def forget(self, owner: Owner, token: object) -> None:
        connections = self._open.get(owner)
        if connections is not None:
            connections.pop(token, None)
            if not connections:
                del self._open[owner]

    async def _run(self, lookup: KeyLookup) -> None:
        while self._open:
            await asyncio.sleep(self._interval)
            owners = list(self._open)
            try:
                gone = await run_in_threadpool(_revoked, lookup, owners)
            except Exception:  # the database is away: look again next time
                if not self._failing:  # once per outage, not twice a second
                    log.warning("balance stream: cannot check API keys", exc_info=True)
                self._failing = True
                continue
            self._failing = False
            for owner in gone:
                for revoked in list(self._open.pop(owner, {}).values()):
                    with contextlib.suppress(RuntimeError):  # its loop is closed
                        revoked()


def _revoked(lookup: KeyLookup, owners: list[Owner]) -> list[Owner]:
    """The owners whose key is revoked, deleted, or now another user's."""
    gone = []
    for key, uid in owners:
        stored = lookup(key)
        if stored is None or stored.revoked_at is not None or stored.uid != uid:
            gone.append((key, uid))
    return gone


@dataclass(frozen=True, slots=True)
class StreamServices:
    """What the bullet endpoint and the WebSocket route share."""

    hub: BalanceHub
    tokens: StreamTokens
    ping_interval_ms: int = 18_000
    ping_timeout_ms: int = 10_000
    public_url: str = ""  # empty: derived from the request's Host
    keys: KeyWatch = field(default_factory=KeyWatch)
