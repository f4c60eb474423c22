"""The application `kuledger serve` runs, served inside the test process.

`in_process_server` builds the app as the server's worker does
(`bootstrap.build_app` over a container of the same settings, lifespan
entered), and answers an `httpx.Client` through httpx's ASGI transport, on an
event loop in a background thread: middleware, authentication, rate limits
and error envelopes are the real ones, without a process start, a port or a
socket. The CLI runs in process too (`InProcessCli`, click's CliRunner on the
real command group).

What needs a real socket or process (signals, graceful shutdown, several
workers, clients that open their own connections, bytes no HTTP client
sends) stays on `tests.support.server.live_server`.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from kuledger.bootstrap import Container, build_app
from kuledger.cli.main import cli
from kuledger.cli.serve import logging_config
from kuledger.config import Settings
from kuledger.http.ws_private import redact_tokens_in_server_log
from tests.support.server import ApiUser, CliCommands, Server, database_env

BASE_URL = "http://testserver"  # no such host: a stray real request fails fast
# uvicorn logs an exception that escapes the app here ("Exception in ASGI
# application" and the traceback); so does the in-process stand-in.
SERVER_ERRORS = logging.getLogger("uvicorn.error")


@dataclass
class InProcessCli(CliCommands):
    """`kuledger ...` through click's CliRunner: the real command group,
    options and exit codes, without a Python start-up per command."""

    env: dict[str, str]

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        # Only this CLI's settings: none of the test process's KULEDGER_*.
        unset: dict[str, str | None] = {
            name: None for name in os.environ if name.startswith("KULEDGER_")
        }
        result = CliRunner().invoke(
            cli,
            list(args),
            input=stdin,
            env={**unset, **self.env},
            catch_exceptions=False,
        )
        if check and result.exit_code != 0:
            raise AssertionError(
                f"kuledger {' '.join(args)} failed: {result.stderr}{result.stdout}"
            )
        return result.stdout


@dataclass
class InProcessServer(Server):
    base_url: str
    cli: CliCommands
    app: Starlette
    transport: httpx.BaseTransport
    captured: io.StringIO
    users: dict[str, ApiUser] = field(default_factory=dict)
    http: httpx.Client = field(init=False)
    container: Container | None = None  # the app's

    def __post_init__(self) -> None:
        self.http = self.new_client()

    def new_client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport, timeout=60)

    def log(self) -> str:
        return self.captured.getvalue()


class PortalTransport(httpx.BaseTransport):
    """A sync transport over httpx's (async) ASGI transport: each request is
    run on the portal's event loop, where the app and its lifespan live."""

    def __init__(self, app: ASGIApp, portal: BlockingPortal) -> None:
        # Like uvicorn, answer what the app sent even when it then raised.
        self._asgi = httpx.ASGITransport(app, raise_app_exceptions=False)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._portal.call(self._handle, request)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        response = await self._asgi.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(
            response.status_code, headers=response.headers, content=content
        )


def logs_errors(app: ASGIApp) -> ASGIApp:
    """Log an exception that escapes the app, as uvicorn does, and re-raise."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except Exception as exc:
            SERVER_ERRORS.error("Exception in ASGI application\n", exc_info=exc)
            raise

    return asgi


@contextmanager
def captured_log(level: str) -> Iterator[io.StringIO]:
    """What `kuledger serve` prints (its logging_config): access lines as bare
    JSON, the server's other records timestamped, all in one buffer."""
    formats = logging_config(level)["formatters"]
    buffer = io.StringIO()
    access = logging.StreamHandler(buffer)
    access.setFormatter(logging.Formatter(formats["json"]["format"]))
    other = logging.StreamHandler(buffer)
    other.setFormatter(logging.Formatter(formats["plain"]["format"]))
    wiring = [
        (logging.getLogger("kuledger.access"), access, False),
        (logging.getLogger("kuledger"), other, True),
        (SERVER_ERRORS, other, True),
    ]
    saved = [(logger.level, logger.propagate) for logger, _, _ in wiring]
    for logger, handler, propagate in wiring:
        logger.addHandler(handler)
        logger.setLevel(level.upper())
        logger.propagate = propagate
    try:
        yield buffer
    finally:
        for (logger, handler, _), (was_level, was_propagate) in zip(
            wiring, saved, strict=True
        ):
            logger.removeHandler(handler)
            logger.setLevel(was_level)
            logger.propagate = was_propagate


@contextmanager
def in_process_server(
    database_url: str, workdir: Path, *, extra_env: dict[str, str] | None = None
) -> Iterator[InProcessServer]:
    """`kuledger init`, then the app `kuledger serve` would run, until the
    block ends. `init` has just created the monthly partitions serve ensures."""
    env = database_env(database_url, workdir)
    env.update(extra_env or {})
    cli = InProcessCli(env)
    cli.run("init")
    redact_tokens_in_server_log()
    with ExitStack() as stack:
        container = Container(Settings.from_env(env))
        stack.callback(container.close)
        app = build_app(container)
        captured = stack.enter_context(captured_log(container.settings.log_level))
        portal = stack.enter_context(start_blocking_portal())
        # What Starlette's router runs on the ASGI lifespan events.
        stack.enter_context(
            portal.wrap_async_context_manager(app.router.lifespan_context(app))
        )
        transport = PortalTransport(logs_errors(app), portal)
        server = InProcessServer(
            BASE_URL, cli, app, transport, captured, container=container
        )
        stack.callback(server.http.close)
        yield server
