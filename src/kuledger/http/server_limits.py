"""What one API worker lets a client hold: connections, time, memory.

uvicorn's HTTP protocol (httptools) is kept, with what it lacks for an
unauthenticated client that misbehaves:

- a cap on open connections: over it a request is answered `503000`, and a
  tenth past it (or past the open-file budget) a new connection is closed at
  once (uvicorn's own `limit_concurrency` answers in plain text, and lets a
  WebSocket upgrade or an idle connection through);
- a deadline for each request to arrive in full, from the connection's opening
  or the request's first byte: uvicorn closes nothing before a first response,
  so idle and partial-header connections stayed open for ever;
- a deadline for a response that the client does not read (its writes stay
  paused), which uvicorn leaves waiting for ever;
- a bound on pipelining: httptools parses all it is fed, and uvicorn queues
  every request it parses while an earlier one is unanswered, so a client that
  pipelines and never reads grew the worker without bound. Unparsed bytes are
  held instead, at most one read's worth, with reading paused.

h11 (uvicorn's other protocol) parses one request at a time, but costs 1.65
times the server CPU per ledger page (docs/deploy.md#connection-limits).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.server import ServerState

from kuledger.config import ConfigError, Settings
from kuledger.http.envelope import fail
from kuledger.http.listener_tls import ListenerTls, serves, start_tls, tls_extension
from kuledger.http.protocols import EnvelopeHttpToolsProtocol

log = logging.getLogger("kuledger.http")

PARSE_SLICE = 4096  # bytes parsed at a time: at most ~200 tiny requests queued
BACKLOG = 2048  # uvicorn's default
DEFAULT_MAX_CONNECTIONS = 10_000  # an idle connection holds about 7 kB
OVER_CAP_FUSE_S = 1.0  # how long a connection over the cap has to send its request
_WARN_EVERY_S = 10.0


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Per worker process; see the KULEDGER_*_TIMEOUT_S and
    KULEDGER_MAX_CONNECTIONS settings."""

    max_connections: int = 1000  # over it: 503000
    descriptor_cap: int = 1100  # over it: closed at once (within the budget)
    backlog: int = BACKLOG
    request_timeout_s: int = 10
    keepalive_timeout_s: int = 5
    send_timeout_s: int = 30


def raise_open_file_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (workers
    inherit it); return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)  # Linux refuses more than fs.nr_open anyway
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def descriptor_budget(open_files: int, pool_size: int, threads: int) -> tuple[int, int]:
    """(connections a worker may hold, listen backlog) within `open_files`.

    Kept apart: the listeners, logs and epoll, the database connections of both
    pools (3 descriptors each on SQLite: file, WAL, shared memory) and Redis;
    and the backlog, because the event loop accepts that many connections in
    one burst before any of them is looked at."""
    reserve = 64 + 3 * (2 * pool_size + threads + 2)
    usable = open_files - reserve
    backlog = min(BACKLOG, max(16, usable // 8))
    return usable - backlog, backlog


class LimitedConfig(uvicorn.Config):
    """uvicorn's Config with the limits, which are pickled with it into every
    worker process (a class attribute would not survive the spawn)."""

    def __init__(
        self,
        app: Any,  # an import string, or (in tests) the ASGI app
        *,
        limits: ConnectionLimits,
        tls: ListenerTls | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            app,
            http=LimitedHttpProtocol,
            backlog=limits.backlog,
            timeout_keep_alive=limits.keepalive_timeout_s,
            **kwargs,
        )
        self.limits = limits
        self.tls = tls  # the operator listener's (http/listener_tls.py)


_busy = fail(
    "503000",
    "Service Unavailable: too many connections, try again later",
    503,
    {"Connection": "close", "Retry-After": "1"},
)
_BUSY_BYTES = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    + b"".join(name + b": " + value + b"\r\n" for name, value in _busy.raw_headers)
    + b"\r\n"
    + bytes(_busy.body)
)
_last_warned = [0.0]


def _warn_over_cap(open_now: int, limits: ConnectionLimits) -> None:
    now = time.monotonic()
    if now - _last_warned[0] >= _WARN_EVERY_S:
        _last_warned[0] = now
        log.warning(
            "%d connections open, over KULEDGER_MAX_CONNECTIONS=%d: answering "
            "503000 (over %d: closing at once)",
            open_now,
            limits.max_connections,
            limits.descriptor_cap,
        )


class _HeldFlow(FlowControl):
    """uvicorn's flow control, except that reading stays paused while the
    protocol holds unparsed bytes; a resume asked for meanwhile is made once
    they are parsed."""

    def __init__(self, transport: asyncio.Transport, held: bytearray) -> None:
        super().__init__(transport)
        self._held = held
        self._resume_deferred = False

    def pause_reading(self) -> None:
        self._resume_deferred = False
        super().pause_reading()

    def resume_reading(self) -> None:
        if self._held:
            self._resume_deferred = True
        else:
            super().resume_reading()

    def held_parsed(self) -> None:
        if self._resume_deferred:
            self._resume_deferred = False
            super().resume_reading()


class LimitedHttpProtocol(EnvelopeHttpToolsProtocol):
    """uvicorn's httptools protocol, answering what it cannot parse with the
    envelope (http/protocols.py), with the limits of the module docstring."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limited = config if isinstance(config, LimitedConfig) else None
        self.limits = limited.limits if limited else ConnectionLimits()
        self.tls = limited.tls if limited else None
        self._tls_scope: dict[str, Any] | None = None
        self._handshaking = False
        self._held = bytearray()
        self._in_request = False
        self._upgraded = False
        self._request_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if self.tls is not None and serves(self.tls, transport):
            self._handshaking = True  # made again, with TLS, once it is done
            start_tls(self, transport, self.tls, self.limits.request_timeout_s)
            return
        if self._handshaking:
            self._handshaking = False
            self._tls_scope = tls_extension(transport)
        super().connection_made(transport)
        self.flow = self._flow = _HeldFlow(transport, self._held)
        open_now = len(self.connections)
        fuse = float(self.limits.request_timeout_s)
        if open_now > self.limits.max_connections:
            _warn_over_cap(open_now, self.limits)
            if open_now > self.limits.descriptor_cap:
                transport.abort()
                return
            self.app = _busy
            fuse = min(fuse, OVER_CAP_FUSE_S)
        self._arm_request_timer(fuse)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._handshaking:  # never made, as far as uvicorn knows
            return
        self._cancel_request_timer()
        self._cancel_send_timer()
        self._held.clear()
        super().connection_lost(exc)

    # -- pipelining: parse only while no parsed request waits its turn --------

    def data_received(self, data: bytes) -> None:
        if self._held or self.pipeline or len(data) > PARSE_SLICE:
            self._held += data
        else:  # the common case, parsed at once: one request, or its end
            super().data_received(data)
        self._parse()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._parse()

    def _parse(self) -> None:
        while self._held and not self.pipeline and self._parsing():
            piece = bytes(self._held[:PARSE_SLICE])
            del self._held[:PARSE_SLICE]
            super().data_received(piece)
        if not self._parsing():
            self._held.clear()
        elif self._held or self.pipeline:
            # The client's bytes wait for our responses, not the other way round.
            self._cancel_request_timer()
            self.flow.pause_reading()
        else:
            if self._in_request and self._request_timer is None:
                self._arm_request_timer(self.limits.request_timeout_s)
            self._flow.held_parsed()

    def _parsing(self) -> bool:
        closing = self.transport.is_closing()
        return self.parser is not None and not self._upgraded and not closing

    # -- the request deadline ----------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls_scope is not None:
            self.scope["extensions"] = {"tls": self._tls_scope}  # type: ignore[dict-item]
        self._in_request = True
        if self._request_timer is None:
            self._arm_request_timer(self.limits.request_timeout_s)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_request = False
        self._cancel_request_timer()

    def handle_websocket_upgrade(self) -> None:
        self._upgraded = True
        self._cancel_request_timer()
        self._cancel_send_timer()  # the WebSocket protocol has its own
        if self.app is _busy:  # uvicorn would hand it to the app regardless
            self.transport.write(_BUSY_BYTES)
            self.transport.close()
            return
        super().handle_websocket_upgrade()

    def _arm_request_timer(self, seconds: float) -> None:
        self._cancel_request_timer()
        self._request_timer = self.loop.call_later(seconds, self._request_timed_out)

    def _cancel_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _request_timed_out(self) -> None:
        self._request_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    # -- the send deadline: a response the client does not read -------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(
                self.limits.send_timeout_s, self._send_timed_out
            )

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_send_timer()

    def _cancel_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_timed_out(self) -> None:
        self._send_timer = None
        self.transport.abort()  # close() would wait for the unread bytes to leave


def limits_for(settings: Settings, open_files: int) -> ConnectionLimits:
    """The limits a worker applies, from the settings and its open-file limit."""
    for name in ("request_timeout_s", "keepalive_timeout_s", "send_timeout_s"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"KULEDGER_{name.upper()} must be at least 1")
    budget, backlog = descriptor_budget(
        open_files, settings.pool_size, settings.threads
    )
    if budget < 16:
        raise ConfigError(
            f"the open-file limit ({open_files}) leaves {max(budget, 0)} connections "
            "per worker: raise it (ulimit -n, or LimitNOFILE= in systemd)"
        )
    if not 0 <= settings.max_connections <= budget:
        raise ConfigError(
            f"KULEDGER_MAX_CONNECTIONS must be from 0 to {budget} (what the "
            f"open-file limit, {open_files}, allows), got {settings.max_connections}"
        )
    cap = settings.max_connections or min(DEFAULT_MAX_CONNECTIONS, budget * 9 // 10)
    return ConnectionLimits(
        max_connections=cap,
        descriptor_cap=min(budget, cap + max(16, cap // 10)),
        backlog=backlog,
        request_timeout_s=settings.request_timeout_s,
        keepalive_timeout_s=settings.keepalive_timeout_s,
        send_timeout_s=settings.send_timeout_s,
    )
