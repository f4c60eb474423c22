"""The composition root: the one place that picks concrete adapters."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.engine import Engine

from kuledger.config import Settings
from kuledger.services.ports import Clock, UnitOfWork
from kuledger.storage.engines import create_engine
from kuledger.storage.reader import SqlLedgerReader
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
