"""The composition root: the one place that picks concrete adapters."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.engine import Engine
from starlette.applications import Starlette

from kuledger.config import Settings, settings_from_environment
from kuledger.http.app import create_app
from kuledger.http.auth import Authenticator
from kuledger.http.context import ApiServices
from kuledger.http.ratelimit import RateLimitPolicy
from kuledger.services.ports import Clock, UnitOfWork
from kuledger.services.ratelimit import MemoryLimiter, RateLimiter
from kuledger.storage.engines import create_engine
from kuledger.storage.reader import SqlLedgerReader
from kuledger.storage.redis_limiter import RedisLimiter
from kuledger.storage.secretbox import FernetBox, load_box
from kuledger.storage.sql import SqlUnitOfWork


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
        return SqlUnitOfWork(self.engine)

    @cached_property
    def reader(self) -> SqlLedgerReader:
        return SqlLedgerReader(self.engine)

    @cached_property
    def box(self) -> FernetBox:
        return load_box(self.settings.secret_key, self.settings.key_file)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def build_rate_limit_policy(settings: Settings) -> RateLimitPolicy | None:
    """The in-process limiter, or the shared Redis one if KULEDGER_REDIS_URL is set."""
    if not settings.ratelimit:
        return None
    limiter: RateLimiter
    if settings.redis_url:
        limiter = RedisLimiter(settings.redis_url, settings.ratelimit_window_ms)
    else:
        limiter = MemoryLimiter(settings.ratelimit_window_ms)
    return RateLimitPolicy(
        limiter,
        settings.ratelimit_quotas,
        settings.ratelimit_weights,
        fail_open=settings.ratelimit_on_redis_error == "open",
    )


def build_app(container: Container) -> Starlette:
    """The HTTP application over the container's database."""
    services = ApiServices(
        settings=container.settings,
        reader=container.reader,
        uow=container.uow,
        clock=container.clock,
        authenticator=Authenticator(
            container.reader,
            container.box,
            container.clock,
            container.settings.timestamp_tolerance_ms,
        ),
        ratelimit=build_rate_limit_policy(container.settings),
    )
    return create_app(services)


def asgi_app() -> Starlette:
    """The factory uvicorn calls in each worker process (`kuledger serve`)."""
    return build_app(Container(settings_from_environment()))
