"""The balance stream across processes: committed changes go through Redis.

Every process that writes (API workers, the CLI) publishes each commit's changes
as one message on one pub/sub channel; every API worker runs one listener that
hands them to its own subscribers. So a subscriber connected to any worker sees
every change exactly once, in the order the messages were published.

Each message carries a random id and the listener skips ids it has seen, so a
PUBLISH that a client retries after a timeout is still delivered once. Pub/sub
keeps nothing for a listener that is away: when the listener loses Redis it
says so (`lost`), and the HTTP edge closes the affected WebSocket connections,
so clients reconnect instead of silently missing changes.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from decimal import Decimal

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from kuledger.domain.accounts import AccountType
from kuledger.domain.events import BalanceChange

log = logging.getLogger("kuledger.stream")

CHANNEL = "kuledger:balance"
SEEN_IDS = 10_000  # message ids remembered to drop a retried PUBLISH


def encode(changes: Sequence[BalanceChange], message_id: str) -> bytes:
    rows = [
        [
            c.uid,
            c.account_id,
            c.account_type.value,
            c.currency,
            str(c.total),
            str(c.available),
            str(c.hold),
            str(c.available_change),
            str(c.hold_change),
            c.relation_event,
            c.relation_event_id,
            c.relation_context,
            c.time,
        ]
        for c in changes
    ]
    return json.dumps({"id": message_id, "changes": rows}).encode()


def decode(data: bytes) -> tuple[str, list[BalanceChange]]:
    raw = json.loads(data)
    changes = [
        BalanceChange(
            str(uid),
            str(account_id),
            AccountType(account_type),
            str(currency),
            Decimal(total),
            Decimal(available),
            Decimal(hold),
            Decimal(available_change),
            Decimal(hold_change),
            str(relation_event),
            str(relation_event_id),
            str(relation_context),
            int(at),
        )
        for (
            uid,
            account_id,
            account_type,
            currency,
            total,
            available,
            hold,
            available_change,
            hold_change,
            relation_event,
            relation_event_id,
            relation_context,
            at,
        ) in raw["changes"]
    ]
    return str(raw["id"]), changes


class RedisEventSink:
    """EventSink: one PUBLISH per commit. The commit has happened already, so a
    Redis failure is logged, never raised to the caller."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        # Two quick retries: the caller (a request, a CLI line) waits for them,
        # and the listener drops the duplicate a retry after a timeout makes.
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
        )
        self._channel = channel

    def publish(self, changes: Sequence[BalanceChange]) -> None:
        if not changes:
            return
        try:
            self._client.publish(self._channel, encode(changes, uuid.uuid4().hex))
        except redis.RedisError as exc:
            log.error(
                "balance stream: %d committed change(s) not published: %s",
                len(changes),
                exc,
            )

    def close(self) -> None:
        self._client.close()


class RedisEventListener:
    """One thread per process subscribed to the channel, started on first use."""

    def __init__(
        self,
        url: str,
        deliver: Callable[[Sequence[BalanceChange]], None],
        lost: Callable[[], None],
        channel: str = CHANNEL,
    ) -> None:
        self._url = url
        self._deliver = deliver
        self._lost = lost
        self._channel = channel
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._wake = threading.Event()  # retry now: a subscriber is waiting
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()

    def ready(self, timeout: float) -> bool:
        """Start listening if not yet; whether the subscription is live."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="kuledger-balance-listener", daemon=True
                )
                self._thread.start()
        if not self._subscribed.is_set():
            self._wake.set()
        return self._subscribed.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                self._listen()
                delay = 0.1
            except (redis.RedisError, OSError) as exc:
                log.warning("balance stream: Redis listener interrupted: %s", exc)
            finally:
                if self._subscribed.is_set():
                    self._subscribed.clear()
                    self._lost()
            self._wake.wait(delay)
            self._wake.clear()
            delay = min(delay * 2, 5.0)

    def _listen(self) -> None:
        # No silent reconnect: a gap in the subscription must be seen (above).
        client = redis.Redis.from_url(
            self._url,
            socket_connect_timeout=2.0,
            health_check_interval=5,
            retry=Retry(NoBackoff(), 0),
        )
        # redis 6 leaves pubsub() untyped and redis 8.2 types it: the ignore
        # is needed on one and unused on the other, and must pass on both.
        pubsub = client.pubsub()  # type: ignore[no-untyped-call, unused-ignore]
        try:
            pubsub.subscribe(self._channel)
            while not self._stopping.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    if self._subscribed.is_set():  # resubscribed: a gap
                        self._subscribed.clear()
                        self._lost()
                    self._subscribed.set()
                elif message["type"] == "message":
                    self._handle(message["data"])
        finally:
            pubsub.close()
            client.close()

    def _handle(self, data: bytes) -> None:
        try:
            message_id, changes = decode(data)
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            log.error("balance stream: undecodable message skipped: %s", exc)
            return
        if message_id in self._seen:
            return
        self._seen[message_id] = None
        if len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
        try:
            self._deliver(changes)
        except Exception:  # a delivery bug must not stop the listener
            log.exception("balance stream: delivery failed")
