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
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kuledger.domain.accounts import AccountType
from kuledger.domain.events import BalanceChange
from kuledger.domain.money import to_wire
from kuledger.http.stream_tokens import StreamTokens

log = logging.getLogger("kuledger.stream")

TOPIC = "/account/balance"
SUBJECT = "account.balance"
WS_PATH = "/ws/private"
MAX_PENDING = 10_000  # messages queued for one connection before it is closed
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


@dataclass(frozen=True, slots=True)
class StreamServices:
    """What the bullet endpoint and the WebSocket route share."""

    hub: BalanceHub
    tokens: StreamTokens
    ping_interval_ms: int = 18_000
    ping_timeout_ms: int = 10_000
    public_url: str = ""  # empty: derived from the request's Host
