"""API key changes heard on PostgreSQL: the KeyFeed of the workers' key caches.

Migration 0011 (`key_notify`) puts triggers on `api_keys` and `users` that
call `pg_notify('kuledger_keys', ...)` for every updated or deleted row
(`k:<key>`, `u:<uid>`; `*` for a TRUNCATE), so any writer, raw SQL included,
tells every listener at its commit, and a rolled-back change tells nobody.

`KeyNotifyListener` holds one LISTEN connection per worker in a daemon thread.
Every `POLL_S` it runs `SELECT 1`: PostgreSQL sends a listener every pending
notification before it answers a query, so once the answer and the
notifications before it are handed over, every change committed before the
query was sent has been told (`confirmed`). A lost connection is `lost` (the
cache empties and is bypassed) and is opened again with a growing delay; the
changes made meanwhile went unheard, so a new connection starts by dropping
everything (`all_changed`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from kuledger.services.key_cache import KeyChangeSink

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("kuledger.auth")

CHANNEL = "kuledger_keys"
APPLICATION_NAME = "kuledger-key-listener"
POLL_S = 0.25  # between confirmations; well under key_cache.LIVENESS_S
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

    def __init__(self, database_url: str, *, poll_s: float = POLL_S) -> None:
        self._conninfo = conninfo(database_url)
        self._poll = poll_s
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

        delay = RETRY_S[0]
        while not self._stopping.is_set():
            self._heard = False
            try:
                with psycopg.connect(self._conninfo, **_CONNECT) as connection:
                    self._listen(connection, sink)
            except Exception as exc:  # whatever it was, listen again, never stale
                log.warning(
                    "API key cache: the change listener stopped (%s); keys are "
                    "read from the database until it listens again",
                    type(exc).__name__,
                )
            finally:
                sink.lost()
            delay = RETRY_S[0] if self._heard else min(delay * 2, RETRY_S[1])
            self._stopping.wait(delay)

    def _listen(self, connection: psycopg.Connection[Any], sink: KeyChangeSink) -> None:
        connection.execute(f"LISTEN {CHANNEL}")
        sink.all_changed()  # what changed before LISTEN went unheard
        while not self._stopping.is_set():
            sent = time.monotonic()  # the cache's clock
            connection.execute("SELECT 1")
            _deliver(connection.notifies(timeout=0), sink)
            sink.confirmed(sent)
            if not self._heard:
                log.info("API key cache: listening for key changes")
                self._heard = True
            _deliver(connection.notifies(timeout=self._poll), sink)


def _deliver(notifies: Iterable[psycopg.Notify], sink: KeyChangeSink) -> None:
    for notify in notifies:
        kind, _, name = notify.payload.partition(":")
        if kind == "k":
            sink.key_changed(name)
        elif kind == "u":
            sink.user_changed(name)
        else:
            sink.all_changed()
