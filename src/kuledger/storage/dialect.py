"""The few places SQLite and PostgreSQL SQL differ, in one object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kuledger.domain.money import to_wire


@dataclass(frozen=True, slots=True)
class SqlDialect:
    name: str
    ph: str  # the driver's placeholder
    money: Callable[[Decimal], Any]  # Decimal -> driver parameter
    for_update: str  # row-lock clause appended to SELECTs that precede writes
    collate: str  # a byte-order collation, so lock order equals Python's sort

    def placeholders(self, count: int) -> str:
        return ", ".join([self.ph] * count)

    def text_of(self, column: str) -> str:
        """An expression that reads a money column as its canonical text."""
        return column if self.name == "sqlite" else f"{column}::text"


SQLITE = SqlDialect("sqlite", "?", to_wire, "", "")
POSTGRES = SqlDialect("postgresql", "%s", lambda d: d, " FOR UPDATE", ' COLLATE "C"')


def dialect_for(name: str) -> SqlDialect:
    return POSTGRES if name == "postgresql" else SQLITE
