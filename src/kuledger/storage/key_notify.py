"""API key changes heard on PostgreSQL: the KeyFeed of the workers' key caches.

Migration 0011 (`key_notify`) puts triggers on `api_keys` and `users` that
call `pg_notify('kuledger_keys', ...)` for every updated or deleted row
(`k:<key>`, `u:<uid>`; `*` for a TRUNCATE), so any writer, raw SQL included,
tells every listener at its commit, and a rolled-back change tells nobody.

`KeyNotifyListener` holds one LISTEN connection per worker in a daemon thread.
Every `POLL_S` it also NOTIFYs a channel of its own with the time: PostgreSQL
delivers notifications in commit order, so when that echo comes back, every
change committed before the time it carries has been told (`confirmed`). A
connection that hears no echo (lost, stalled, or behind a pooler that moved
the LISTEN elsewhere) confirms nothing, and the cache is bypassed within
`key_cache.LIVENESS_S`. A lost connection is `lost` (the cache empties) and is
opened again with a growing delay; the changes made meanwhile went unheard, so
a new connection starts by dropping everything (`all_changed`).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from kuledger.services.key_cache import KeyChangeSink

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("kuledger.auth")

CHANNEL = "kuledger_keys"
APPLICATION_NAME = "kuledger-key-listener"
POLL_S = 0.25  # between confirmations; well under key_cache.LIVENESS_S
ECHO_PATIENCE = 8  # polls without an echo before the log says so
RETRY_S = (0.1, 2.0)  # first and longest delay before listening again

# Autocommit (LISTEN acts at once), and a dead peer noticed within seconds.
_CONNECT: dict[str, Any] = {
    "autocommit": True,
    "application_name": APPLICATION_NAME,
    "connect_timeout": 2,
    "keepalives": 1,
    "keepalives_idle": 1,
    "keepalives_interval": 1,
    "keepalives_count": 2,
    "tcp_user_timeout": 2000,
}


def conninfo(database_url: str) -> str:
    """The libpq address of `database_url` (an SQLAlchemy or libpq URL)."""
    url = sa.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class KeyNotifyListener:
    """KeyFeed over LISTEN kuledger_keys (module docstring)."""

    def __init__(
        self,
        database_url: str,
        *,
        poll_s: float = POLL_S,
        on_listening: Callable[[bool], None] | None = None,
    ) -> None:
        """`on_listening` is told when the listener starts hearing its echo
        and when it stops (a metric)."""
        self._conninfo = conninfo(database_url)
        self._poll = poll_s
        self._on_listening = on_listening
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._heard = False  # confirmed at least once on this connection

    def start(self, sink: KeyChangeSink) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        self._pid = os.getpid()  # a forked child starts a thread of its own
        self._thread = threading.Thread(
            target=self._run, args=(sink,), name=APPLICATION_NAME, daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout)

    def _run(self, sink: KeyChangeSink) -> None:
        import psycopg  # here: a CLI command that never listens does not load it

        delay, failures = RETRY_S[0], 0
        while not self._stopping.is_set():
            self._heard = False
            try:
                with psycopg.connect(self._conninfo, **_CONNECT) as connection:
                    self._listen(connection, sink)
            except Exception as exc:  # whatever it was, listen again, never stale
                failures = 1 if self._heard else failures + 1
                # Once per outage, not at every retry (no secret in the text).
                log.log(
                    logging.WARNING if failures <= 1 else logging.DEBUG,
                    "API key cache: the change listener is not listening (%s); "
                    "keys are read from the database until it listens again",
                    type(exc).__name__,
                )
            finally:
                sink.lost()
                if self._heard and self._on_listening is not None:
                    self._on_listening(False)
            delay = RETRY_S[0] if self._heard else min(delay * 2, RETRY_S[1])
            self._stopping.wait(delay)

    def _listen(self, connection: psycopg.Connection[Any], sink: KeyChangeSink) -> None:
        echo = f"{CHANNEL}_{secrets.token_hex(8)}"  # this listener's own channel
        connection.execute(f"LISTEN {CHANNEL}")
        connection.execute(f"LISTEN {echo}")
        sink.all_changed()  # what changed before LISTEN went unheard
        unanswered = 0
        while not self._stopping.is_set():
            sent = repr(time.monotonic())  # the cache's clock
            connection.execute("SELECT pg_notify(%s, %s)", (echo, sent))
            for notify in connection.notifies(timeout=self._poll):
                if notify.channel == echo:
                    # Queued after every change committed before `sent`, so
                    # those were all delivered before it: confirmed.
                    sink.confirmed(min(float(notify.payload), time.monotonic()))
                    unanswered = -1
                    if not self._heard:
                        log.info("API key cache: listening for key changes")
                        self._heard = True
                        if self._on_listening is not None:
                            self._on_listening(True)
                else:
                    _deliver(notify.payload, sink)
            unanswered += 1
            if unanswered == ECHO_PATIENCE:
                log.warning(
                    "API key cache: the listener does not hear its own NOTIFY "
                    "(a transaction-pooling proxy?); keys are read from the "
                    "database on every request"
                )


def _deliver(payload: str, sink: KeyChangeSink) -> None:
    kind, _, name = payload.partition(":")
    if kind == "k":
        sink.key_changed(name)
    elif kind == "u":
        sink.user_changed(name)
    else:
        sink.all_changed()
