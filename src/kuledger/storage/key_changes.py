"""API key changes across processes on PostgreSQL: NOTIFY in the writing
transaction, LISTEN in every worker.

Whatever revokes a key or changes its permissions, whitelist or owner's VIP
level (the CLI, the operator API, a sub-account endpoint, any worker) does so
through the key and user stores, which send `NOTIFY kuledger_keys` in the same
transaction: PostgreSQL delivers it at commit and never for a rollback, so no
writer can forget it and no Redis is needed for it. Each worker's listener
thread counts the notifications (the generation); a cached row is current only
while the listener is connected and the generation has not moved since the row
was read. A listener that loses its connection distrusts every cached row until
it listens again, and moves the generation then (it may have missed some).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("kuledger.auth")

CHANNEL = "kuledger_keys"
APPLICATION_NAME = "kuledger-key-listener"
POLL_S = 0.5  # how often the listener checks its connection between messages


def notify_key_change(connection: sa.Connection) -> None:
    """Tell every worker's key cache, at commit, that a key may have changed."""
    if connection.dialect.name == "postgresql":
        notify = sa.text("SELECT pg_notify(:channel, '')")
        connection.execute(notify, {"channel": CHANNEL})


def listener_conninfo(database_url: str) -> str:
    """The libpq address of `database_url` (an SQLAlchemy or libpq URL)."""
    url = sa.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PgKeyChanges:
    """KeyFreshness over LISTEN kuledger_keys; the listener starts on first use
    (in the worker process, after any fork)."""

    def __init__(self, database_url: str) -> None:
        self._conninfo = listener_conninfo(database_url)
        self._generation = 0
        self._live = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def stamp(self) -> int | None:
        self._start()
        return self._generation if self._live.is_set() else None

    def current(self, stamp: int) -> bool:
        return self._live.is_set() and stamp == self._generation

    def ready(self, timeout: float) -> bool:
        """Start listening if not yet; whether the listener is connected."""
        self._start()
        return self._live.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=APPLICATION_NAME, daemon=True
                )
                self._thread.start()

    def _changed(self) -> None:
        with self._lock:
            self._generation += 1

    def _run(self) -> None:
        import psycopg  # here: every command imports this module, few listen

        delay = 0.1
        while not self._stopping.is_set():
            try:
                self._listen(psycopg.connect(self._conninfo, **_CONNECT))
                delay = 0.1
            except (psycopg.Error, OSError) as exc:
                log.warning("API key cache: change listener interrupted: %s", exc)
            finally:
                self._live.clear()  # trust only the database until back
                self._changed()
            self._stopping.wait(delay)
            delay = min(delay * 2, 2.0)

    def _listen(self, connection: psycopg.Connection[Any]) -> None:
        with connection as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._changed()  # what changed before LISTEN went unheard
            self._live.set()
            while not self._stopping.is_set():
                for _ in conn.notifies(timeout=POLL_S, stop_after=1):
                    self._changed()
                conn.execute("SELECT 1")  # a dead connection raises here


# Autocommit (LISTEN acts at once) and a dead peer found within seconds.
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
