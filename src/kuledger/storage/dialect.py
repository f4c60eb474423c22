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


def canonical_numeric(amount: Decimal) -> Decimal:
    """The amount spelled canonically (no trailing zeros): NUMERIC keeps the
    scale it is given, and NUMERIC::text is what goes on the wire."""
    return Decimal(to_wire(amount))


SQLITE = SqlDialect("sqlite", "?", to_wire, "", "")
POSTGRES = SqlDialect(
    "postgresql", "%s", canonical_numeric, " FOR UPDATE", ' COLLATE "C"'
)


def dialect_for(name: str) -> SqlDialect:
    return POSTGRES if name == "postgresql" else SQLITE
