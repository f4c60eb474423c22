"""Trading fee rates per user, as the operator sets them: a market's rate
for every symbol, optionally overridden per symbol. What no row sets is
KuCoin's VIP 0 rate (DEFAULTS), the rate the catalogue's tickers and
contracts also show."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from kuledger.domain.errors import InvalidInput, UnknownUser
from kuledger.services.ports import Clock, LedgerReader

_RATE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]{1,8})?")
MIN_RATE, MAX_RATE = Decimal("-0.01"), Decimal("0.1")  # a maker rebate down to 1%


class Market(enum.StrEnum):
    SPOT = "spot"  # also margin: KuCoin charges them alike
    FUTURES = "futures"


@dataclass(frozen=True, slots=True)
class FeeRate:
    maker: Decimal
    taker: Decimal


DEFAULTS: dict[Market, FeeRate] = {
    Market.SPOT: FeeRate(Decimal("0.001"), Decimal("0.001")),
    Market.FUTURES: FeeRate(Decimal("0.0002"), Decimal("0.0006")),
}
ALL_SYMBOLS = ""  # the symbol of a market-wide row


@dataclass(frozen=True, slots=True)
class FeeRow:
    uid: str
    market: Market
    symbol: str  # ALL_SYMBOLS: the user's rate on every symbol of the market
    rate: FeeRate
    updated_at: int


class FeeStore(Protocol):
    def rows(self, uid: str, market: Market) -> list[FeeRow]: ...
    def put(self, row: FeeRow) -> None: ...
    def delete(self, uid: str, market: Market, symbol: str) -> bool: ...


def parse_rate(value: object, field: str) -> Decimal:
    """A rate as a plain decimal string (at most 8 decimals) within bounds."""
    if not isinstance(value, str) or not _RATE.fullmatch(value):
        raise InvalidInput(field, f"{field} must be a decimal string, got {value!r}")
    rate = Decimal(value)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise InvalidInput(field, f"{field} must be between {MIN_RATE} and {MAX_RATE}")
    return rate


def base_rate(store: FeeStore | None, uid: str, market: Market) -> FeeRate:
    """The user's market-wide rate (GET /api/v1/base-fee)."""
    rows = store.rows(uid, market) if store else []
    found = [r.rate for r in rows if r.symbol == ALL_SYMBOLS]
    return found[0] if found else DEFAULTS[market]


def symbol_rates(
    store: FeeStore | None, uid: str, market: Market, symbols: Iterable[str]
) -> dict[str, FeeRate]:
    """Each symbol's rate: its own row, else the market-wide one, else the default."""
    rows = store.rows(uid, market) if store else []
    by_symbol = {r.symbol: r.rate for r in rows}
    fallback = by_symbol.get(ALL_SYMBOLS, DEFAULTS[market])
    return {s: by_symbol.get(s, fallback) for s in symbols}


def set_rate(
    store: FeeStore,
    reader: LedgerReader,
    clock: Clock,
    *,
    uid: str,
    market: Market,
    maker: object,
    taker: object,
    symbol: str = ALL_SYMBOLS,
) -> FeeRow:
    if reader.user(uid) is None:
        raise UnknownUser(uid)
    rate = FeeRate(parse_rate(maker, "makerFeeRate"), parse_rate(taker, "takerFeeRate"))
    row = FeeRow(uid, market, symbol, rate, clock())
    store.put(row)
    return row


def reset_rate(store: FeeStore, uid: str, market: Market, symbol: str) -> bool:
    """Back to the default (or the market-wide rate); False if nothing was set."""
    return store.delete(uid, market, symbol)


def listed(store: FeeStore, uid: str) -> Sequence[FeeRow]:
    return [row for m in Market for row in store.rows(uid, m)]
