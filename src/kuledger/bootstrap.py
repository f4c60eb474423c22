"""The composition root: the one place that picks concrete adapters."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from kuledger.config import (
    ConfigError,
    Settings,
    settings_from_environment,
    sqlite_file,
)
from kuledger.services.operator import Writer, direct_writer
from kuledger.services.ports import Clock, EventSink, StorageUnavailable, UnitOfWork
from kuledger.services.ratelimit import MemoryLimiter, RateLimiter
from kuledger.storage.account_info import SqlAccountInfo
from kuledger.storage.connections import ReadConnections
from kuledger.storage.dialect import dialect_for
from kuledger.storage.engines import create_engine, create_read_engine
from kuledger.storage.fees import SqlFeeStore
from kuledger.storage.funding import SqlFundingQueries
from kuledger.storage.operator import SqlTokenStore
from kuledger.storage.reader import SqlLedgerReader
from kuledger.storage.replicas import ReadRouter, ReplicaSet, malformed
from kuledger.storage.secretbox import (
    FernetBox,
    KeySource,
    bind_key,
    check_key,
    find_box,
    load_box,
)
from kuledger.storage.sql import SqlUnitOfWork
from kuledger.storage.wal_positions import WalPositions

# The HTTP stack is imported where the server is built, and Redis's client
# where it is configured: a CLI command that reads the database pays for
# neither's start-up.
if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.types import ASGIApp

    from kuledger.http.rate_policy import RateLimitPolicy
    from kuledger.http.stream import StreamServices
    from kuledger.http.stream_tokens import StreamTokens
    from kuledger.services.key_cache import KeyCache
    from kuledger.storage.events_redis import RedisEventListener, RedisEventSink


log = logging.getLogger("kuledger.bootstrap")

# A round trip to PostgreSQL at most this long (the same machine, or a fast
# LAN) lets the short reads run on the event loop: see inline_reads.
INLINE_MAX_ROUND_TRIP_MS = 0.5


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Container:
    """Everything a command or the server needs, built lazily from Settings."""

    settings: Settings
    clock: Clock = wall_clock_ms

    @cached_property
    def engine(self) -> Engine:
        return create_engine(
            self.settings.database_url, pool_size=self.settings.pool_size
        )

    def uow(self) -> UnitOfWork:
        return SqlUnitOfWork(self.engine, positions=self.wal_positions)

    def server_uow(self) -> UnitOfWork:
        """The server's uow(): with metrics on (settings.monitoring), it also
        records how many operations each commit wrote (group commit's batch
        sizes, kuledger_write_batch_operations)."""
        if not self.settings.monitoring:
            return self.uow()
        from kuledger.http.monitoring import WRITE_BATCH

        return SqlUnitOfWork(
            self.engine, WRITE_BATCH.observe, positions=self.wal_positions
        )

    @cached_property
    def read_engine(self) -> Engine:
        return create_read_engine(
            self.settings.database_url, threads=self.settings.threads
        )

    @cached_property
    def wal_positions(self) -> WalPositions | None:
        """With read replicas: each user's last commit position, in Redis."""
        settings = self.settings
        if not settings.read_database_urls:
            return None
        if self.engine.dialect.name != "postgresql":
            raise ConfigError(
                "KULEDGER_READ_DATABASE_URLS: read replicas need "
                "KULEDGER_DATABASE_URL on PostgreSQL"
            )
        if not settings.redis_url:
            raise ConfigError(
                "KULEDGER_READ_DATABASE_URLS needs KULEDGER_REDIS_URL: every "
                "node and process records each user's last write there"
            )
        ttl_ms = 60_000 + 2 * settings.replica_max_lag_ms
        return WalPositions(settings.redis_url, ttl_ms)

    @cached_property
    def replicas(self) -> ReplicaSet | None:
        """The read replicas (KULEDGER_READ_DATABASE_URLS), polled from now on;
        a malformed URL is left out (`kuledger serve` refuses it first)."""
        settings = self.settings
        urls = [u for u in settings.read_database_urls if malformed(u) is None]
        if self.wal_positions is None or not urls:
            return None
        on_reads = None
        if settings.monitoring:
            from kuledger.http.monitoring import count_reads

            on_reads = count_reads
        replicas = ReplicaSet(
            self.read_engine,
            urls,
            max_lag_ms=settings.replica_max_lag_ms,
            threads=settings.threads,
            on_reads=on_reads,
        )
        replicas.start()
        return replicas

    @cached_property
    def reader(self) -> SqlLedgerReader:
        router = None
        if self.replicas is not None and self.wal_positions is not None:
            router = ReadRouter(self.replicas, self.wal_positions)
        return SqlLedgerReader(self.engine, self.read_engine, router=router)

    @cached_property
    def fees(self) -> SqlFeeStore:
        return SqlFeeStore(self.engine, self.reader.connections)

    @cached_property
    def account_info(self) -> SqlAccountInfo:
        ph = dialect_for(self.engine.dialect.name).ph
        return SqlAccountInfo(self.reader.connections, ph)

    @cached_property
    def funding_queries(self) -> SqlFundingQueries:
        return self.funding_queries_on(self.reader.connections)

    def funding_queries_on(self, connections: ReadConnections) -> SqlFundingQueries:
        """The funding reads over `connections` (e.g. verify's snapshot)."""
        return SqlFundingQueries(connections, dialect_for(self.engine.dialect.name))

    @cached_property
    def operator_tokens(self) -> SqlTokenStore:
        return SqlTokenStore(self.engine, self.reader.connections)

    @property
    def key_source(self) -> KeySource:
        settings = self.settings
        rule = None
        if not settings.secret_key_file:
            rule = (
                "the SQLite database's path plus .key"
                if sqlite_file(settings.database_url)
                else "the default: kuledger.key in the working directory"
            )
        return KeySource(settings.secret_key, settings.key_file, rule)

    @cached_property
    def box(self) -> FernetBox:
        """The secret key, once checked against the database's fingerprint
        (recorded now if the database has none yet)."""
        box = load_box(self.key_source)
        bind_key(self.engine, box, self.key_source, self.clock())
        return box

    def check_secret_key(self) -> None:
        """What every command checks first: if a key is configured, that it is
        the one the database records (a missing key fails only where needed)."""
        box = find_box(self.key_source)
        if box is not None:
            check_key(self.engine, box, self.key_source)

    @cached_property
    def events(self) -> RedisEventSink | None:
        """Where committed balance changes are published for every process's
        WebSocket subscribers: Redis, if KULEDGER_REDIS_URL is set. Without it
        only the API server's in-process bus (see build_app) carries them."""
        if not self.settings.redis_url:
            return None
        from kuledger.storage.events_redis import RedisEventSink

        return RedisEventSink(self.settings.redis_url)

    @cached_property
    def key_cache(self) -> KeyCache | None:
        """This process's cache of API key rows, on PostgreSQL: a change to a
        key, by any process, reaches it by LISTEN/NOTIFY (storage/key_notify.py).
        None on SQLite, whose reads cost less than a cache would save and
        which has no change feed, or with KULEDGER_KEY_CACHE_TTL_S=0."""
        ttl = self.settings.key_cache_ttl_s
        if self.engine.dialect.name != "postgresql" or ttl <= 0:
            return None
        from kuledger.services.key_cache import KeyCache
        from kuledger.storage.key_notify import KeyNotifyListener

        on_listening = None
        if self.settings.monitoring:
            from kuledger.http.monitoring import KEY_LISTENERS

            def on_listening(listening: bool) -> None:
                KEY_LISTENERS.set(1 if listening else 0)

        feed = KeyNotifyListener(self.settings.database_url, on_listening=on_listening)
        return KeyCache(feed, ttl_s=ttl)

    def stream_tokens(self) -> StreamTokens:
        """Connect tokens for the private WebSocket, signed with a key derived
        from the secret key, so every worker and process verifies them."""
        from kuledger.http.stream_tokens import StreamTokens

        return StreamTokens(self.box.derive_key("ws-token"), self.clock)

    def close(self) -> None:
        key_cache = self.__dict__.get("key_cache")
        if key_cache is not None:
            key_cache.stop()
        for name in ("replicas", "wal_positions"):
            part = self.__dict__.get(name)
            if part is not None:
                part.close()
        if "reader" in self.__dict__:
            self.reader.close()
        elif "read_engine" in self.__dict__:
            self.read_engine.dispose()
        if "engine" in self.__dict__:
            self.engine.dispose()
        events = self.__dict__.get("events")
        if events is not None:
            events.close()


def build_rate_limit_policy(settings: Settings) -> RateLimitPolicy | None:
    """The in-process limiter, or the shared Redis one if KULEDGER_REDIS_URL is set."""
    from kuledger.http.rate_policy import RateLimitPolicy

    if not settings.ratelimit:
        return None
    limiter: RateLimiter
    if settings.redis_url:
        from kuledger.storage.redis_limiter import RedisLimiter

        limiter = RedisLimiter(settings.redis_url, settings.ratelimit_window_ms)
    else:
        limiter = MemoryLimiter(settings.ratelimit_window_ms)
    return RateLimitPolicy(
        limiter,
        settings.ratelimit_quotas,
        settings.ratelimit_weights,
        fail_open=settings.ratelimit_on_redis_error == "open",
    )


def build_balance_stream(container: Container) -> tuple[EventSink, StreamServices]:
    """The EventSink the ledger publishes to, and the stream the WebSocket
    serves. One worker: an in-process hub is both. With Redis: changes are
    published there, and this worker's hub is fed by its own listener, so
    subscribers of every worker see changes made by any process."""
    from kuledger.http.stream import BalanceHub, StreamServices

    settings = container.settings
    hub: BalanceHub
    sink: EventSink
    if container.events is None:
        hub = BalanceHub()
        sink = hub
    else:
        from kuledger.storage.events_redis import RedisEventListener

        listener: RedisEventListener | None = None

        def feed_ready(timeout: float) -> bool:
            assert listener is not None
            return listener.ready(timeout)

        hub = BalanceHub(feed_ready)
        listener = RedisEventListener(settings.redis_url, hub.deliver, hub.interrupted)
        sink = container.events
    stream = StreamServices(
        hub,
        container.stream_tokens(),
        settings.ws_ping_interval_ms,
        settings.ws_ping_timeout_ms,
        settings.ws_public_url,
    )
    return sink, stream


def build_writer(container: Container, events: EventSink | None) -> Writer:
    """The server's write path (one per process, shared by its listeners):
    group commit, or one transaction per operation with KULEDGER_GROUP_COMMIT
    off. The CLI applies operations with `direct_writer` or services.ledger."""
    settings = container.settings
    uow = container.server_uow
    if not settings.group_commit:
        return direct_writer(uow, container.clock, events)
    from kuledger.services.group_commit import GroupCommitWriter

    return GroupCommitWriter(
        uow,
        container.clock,
        events,
        max_ops=settings.group_commit_max_ops,
        max_wait=settings.group_commit_wait_us / 1_000_000,
    )


def build_app(
    container: Container,
    balance_stream: tuple[EventSink, StreamServices] | None = None,
    write: Writer | None = None,
) -> Starlette:
    """The HTTP application over the container's database; its transfers
    are applied by `write` (by default, build_writer's)."""
    from kuledger.http.app import create_app
    from kuledger.http.auth import Authenticator
    from kuledger.http.context import ApiServices

    events, stream = balance_stream or build_balance_stream(container)
    services = ApiServices(
        settings=container.settings,
        reader=container.reader,
        uow=container.server_uow,
        clock=container.clock,
        authenticator=Authenticator(
            container.reader,
            container.box,
            container.clock,
            container.settings.timestamp_tolerance_ms,
            rows=container.key_cache,
        ),
        ratelimit=build_rate_limit_policy(container.settings),
        events=events,
        stream=stream,
        write=write or build_writer(container, events),
        fees=container.fees,
        account_info=container.account_info,
        box=container.box,
        funding=container.funding_queries,
        inline_reads=inline_reads(container),
    )
    return create_app(services)


def inline_reads(container: Container) -> bool:
    """Whether the server's short reads (Endpoint.inline) run on the event
    loop instead of a worker thread (KULEDGER_INLINE_READS).

    Handing a request to a thread and back costs a worker more CPU than a
    ledger page's own work, but a read on the loop holds every other request
    of the worker while it waits: worth it only while the wait is short. On
    SQLite it is a local file; on PostgreSQL `auto` measures a round trip as
    the worker starts (on the bench, 2M entries: 1.34-1.41x the requests/s at
    about half the CPU a request, docs/benchmarks.md). Read replicas route each read
    through Redis and may fail over, so they keep the thread.
    """
    settings = container.settings
    mode = settings.inline_reads
    if mode == "off" or settings.read_database_urls:
        return False
    if mode == "on" or settings.database_url.startswith("sqlite"):
        return True
    from kuledger.storage.probes import round_trip_ms

    try:
        took = round_trip_ms(container.read_engine)
    except (StorageUnavailable, SQLAlchemyError) as exc:
        # Down as the worker starts: threads are the side that cannot stall it.
        log.warning("inline reads off: the database did not answer (%s)", exc)
        return False
    chosen = took <= INLINE_MAX_ROUND_TRIP_MS
    log.info(
        "inline reads %s: a PostgreSQL round trip took %.3f ms (at most %s ms "
        "runs them on the event loop; KULEDGER_INLINE_READS=on|off decides)",
        "on" if chosen else "off",
        took,
        INLINE_MAX_ROUND_TRIP_MS,
    )
    return chosen


def build_operator_app(
    container: Container,
    events: EventSink | None = None,
    write: Writer | None = None,
) -> ASGIApp:
    """The operator API over the container's database; what it applies is
    published to `events` (the KuCoin app's balance stream), by `write` (by
    default, build_writer's). The listener also answers /healthz, /readyz and
    /metrics (every worker's, with several: kuledger serve sets
    PROMETHEUS_MULTIPROC_DIR before they start)."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from kuledger.http.operator.app import ROUTES, create_operator_app
    from kuledger.http.operator.endpoints import OperatorServices
    from kuledger.http.operator.hot import HotWrites
    from kuledger.storage.explorer import SqlExplorerQueries
    from kuledger.storage.operator import SqlOperatorQueries

    monitoring = build_monitoring_app(
        container, os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    )
    services = OperatorServices(
        write=write or build_writer(container, events),
        tokens=container.operator_tokens,
        queries=SqlOperatorQueries(container.engine, container.reader.connections),
        reader=container.reader,
        uow=container.uow,
        box=container.box,
        clock=container.clock,
        fees=container.fees,
        explorer=SqlExplorerQueries(container.engine, container.reader.connections),
        events=events,
    )
    operator = create_operator_app(services)
    app = Starlette(routes=[*monitoring.routes, Mount("/", app=operator)])
    return HotWrites(app, services, ROUTES)


def build_monitoring_app(
    container: Container, multiprocess_dir: str | None = None
) -> Starlette:
    """The monitoring listener's app over the container's database and Redis;
    with `multiprocess_dir`, its /metrics adds up the workers' files there."""
    from kuledger.http.monitoring import Check, create_monitoring_app
    from kuledger.storage import migrate, probes

    engine = container.engine
    head = migrate.head_revision()
    checks: dict[str, Check] = {
        "database": lambda: probes.database_reachable(engine),
        "migrations": lambda: probes.migrations_current(engine, head),
    }
    if container.settings.redis_url:
        checks["redis"] = probes.RedisProbe(container.settings.redis_url)
    replicas = container.replicas
    return create_monitoring_app(
        checks,
        lambda: probes.verify_status(engine),
        multiprocess_dir,
        replicas=None if replicas is None else replicas.describe,
    )


def asgi_app() -> ASGIApp:
    """The factory uvicorn calls in each worker process (`kuledger serve`):
    the KuCoin app, and the operator API on KULEDGER_OPERATOR_PORT if set."""
    from kuledger.http.operator.app import by_port
    from kuledger.http.ws_private import redact_tokens_in_server_log

    redact_tokens_in_server_log()
    container = Container(settings_from_environment())
    stream = build_balance_stream(container)
    write = build_writer(container, stream[0])  # one writer per process
    app = build_app(container, stream, write)
    port = container.settings.operator_port
    if not port:
        return app
    return by_port(app, port, build_operator_app(container, stream[0], write))
