"""kuledger serve"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import uvicorn
from uvicorn.supervisors import Multiprocess

from kuledger.bootstrap import Container, build_monitoring_app
from kuledger.cli.context import container, fail, reports_errors
from kuledger.config import Settings
from kuledger.http.listener_tls import listener_tls
from kuledger.http.server_limits import LimitedConfig, limits_for, raise_open_file_limit
from kuledger.storage import migrate, partitions
from kuledger.storage.replicas import check_replicas


def logging_config(level: str) -> dict[str, Any]:
    """uvicorn applies this in the server process and in every worker process:
    access lines are bare JSON on stdout, everything else is timestamped."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"format": "%(message)s"},
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        },
        "handlers": {
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            },
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "kuledger.access": {
                "handlers": ["access"],
                "level": level.upper(),
                "propagate": False,
            },
            # The operator API's calls, one JSON line each, whatever the level.
            "kuledger.audit": {
                "handlers": ["access"],
                "level": "INFO",
                "propagate": False,
            },
        },
        "root": {"handlers": ["default"], "level": level.upper()},
    }


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes sharing the port(s).",
)
@click.option(
    "--futures-port",
    type=click.IntRange(0, 65535),
    help="Also listen here (the futures host); the main port serves "
    "the futures paths too.",
)
@click.option(
    "--allow-degraded",
    is_flag=True,
    help="Start even if a read replica (KULEDGER_READ_DATABASE_URLS) is "
    "malformed or unreachable: warn, and read from the primary until it answers.",
)
@reports_errors
def serve(
    host: str, port: int, workers: int, futures_port: int | None, allow_degraded: bool
) -> None:
    """Serve the KuCoin-compatible API on KULEDGER_DATABASE_URL.

    SIGTERM or Ctrl-C stops accepting connections and lets in-flight requests
    finish (up to 30 s).
    """
    c = container()
    if migrate.current_revision(c.engine) != migrate.head_revision():
        fail("the database schema is not current: run `kuledger init` first")
    _check_replicas(c, allow_degraded)
    _ = c.box  # fail now, not on the first request, if the secret key is missing
    now = c.clock()
    created = partitions.ensure_month_partitions(
        c.engine, partitions.shift_months(now, -1), partitions.shift_months(now, 3)
    )
    if created:
        click.echo(f"monthly partitions created: {', '.join(created)}", err=True)
    monitor_socket = _monitor_socket(c)  # first: a port in use stops the start
    limits = limits_for(c.settings, raise_open_file_limit())
    tls = listener_tls(c.settings)  # a bad file stops the start, naming its setting
    config = LimitedConfig(
        "kuledger.bootstrap:asgi_app",
        limits=limits,
        tls=tls,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=logging_config(c.settings.log_level),
        timeout_graceful_shutdown=30,
        # A worker starved of CPU for 5 s (uvicorn's default) would be killed
        # with its requests in flight; only a truly hung one should be.
        timeout_worker_healthcheck=30,
        # X-Forwarded-For is ours to judge (KULEDGER_TRUSTED_PROXIES), not uvicorn's.
        proxy_headers=False,
        log_level=c.settings.log_level,
    )
    sockets = [_bind(host, port, "--port")]
    if futures_port is not None:
        try:
            sockets.append(_bind(host, futures_port, "--futures-port"))
        finally:
            if len(sockets) == 1:  # it failed: let go of the main port too
                sockets[0].close()
    operator = _operator_socket(c.settings, {port, futures_port})
    if operator is not None:
        sockets.append(operator)  # bootstrap.asgi_app routes it by port
    click.echo(
        f"kuledger serving on http://{host}:{port}"
        + (f" and :{futures_port}" if futures_port else "")
        + f" with {workers} worker(s), up to {limits.max_connections} connections each"
        + (
            f"; operator API on {'https' if tls else 'http'}://"
            f"{c.settings.operator_host}:"
            f"{c.settings.operator_port}/operator/v1"
            + (" (client certificates required)" if tls and tls.client_ca else "")
            if operator is not None
            else ""
        ),
        err=True,
    )
    server = uvicorn.Server(config)
    with _monitoring(c, workers, monitor_socket):
        if workers > 1:
            Multiprocess(config, sockets=sockets).run()
        else:
            server.run(sockets=sockets)


def _check_replicas(c: Container, allow_degraded: bool) -> None:
    """Each read replica must be a reachable streaming replica of the primary;
    with --allow-degraded, one that is not is a warning (a malformed URL is
    left out; an unreachable one is tried again while serving)."""
    urls = c.settings.read_database_urls
    if not urls:
        return
    _ = c.wal_positions  # replicas need Redis: a ConfigError says so
    problems = check_replicas(c.settings.database_url, urls)
    if problems and not allow_degraded:
        fail("; ".join(problems) + " (or start with --allow-degraded)")
    for problem in problems:
        click.echo(f"warning: {problem}; reading from the primary", err=True)
    if len(problems) < len(urls):
        click.echo(f"reading from {len(urls) - len(problems)} replica(s)", err=True)


def _operator_socket(
    settings: Settings, kucoin_ports: set[int | None]
) -> socket.socket | None:
    """The operator API's own listener, KULEDGER_OPERATOR_HOST:PORT (none if
    the port is 0), never one of the KuCoin ports."""
    host, port = settings.operator_host, settings.operator_port
    if not port:
        return None
    if port in kucoin_ports:
        fail(f"KULEDGER_OPERATOR_PORT={port} is a KuCoin port: give it its own")
    return _bind(host, port, "KULEDGER_OPERATOR_PORT")


def _bind(host: str, port: int, option: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {host}:{port}: {exc.strerror} (see {option})")
    sock.set_inheritable(True)
    return sock


def _monitor_socket(c: Container) -> socket.socket | None:
    host, port = c.settings.monitor_host, c.settings.monitor_port
    if not port:
        return None
    return _bind(host, port, "KULEDGER_MONITOR_PORT")


@contextmanager
def _monitoring(
    c: Container, workers: int, sock: socket.socket | None
) -> Iterator[None]:
    """The monitoring listener (KULEDGER_MONITOR_PORT), on a thread of this
    process: with one worker, the process that serves the API; with several,
    the supervisor, reading the files each worker writes its metrics to in a
    fresh directory (prometheus-client's multiprocess mode; the operator
    listener's /metrics, in the workers, reads the same directory)."""
    if not c.settings.monitoring:
        yield
        return
    directory = None
    if workers > 1:  # set before the workers start: they inherit it
        directory = tempfile.mkdtemp(prefix="kuledger-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    if sock is None:  # metrics on the operator listener only
        try:
            yield
        finally:
            if directory is not None:
                shutil.rmtree(directory, ignore_errors=True)
        return
    app = build_monitoring_app(c, directory)
    monitor = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", access_log=False, log_config=None)
    )
    thread = threading.Thread(
        target=monitor.run, kwargs={"sockets": [sock]}, name="monitoring", daemon=True
    )
    thread.start()
    host, port = c.settings.monitor_host, c.settings.monitor_port
    click.echo(
        f"monitoring on http://{host}:{port} (/healthz /readyz /metrics)"
        + (f", workers' metrics in {directory}" if directory else ""),
        err=True,
    )
    try:
        yield
    finally:
        monitor.should_exit = True
        thread.join(timeout=5)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
