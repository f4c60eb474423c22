"""`kuledger export --format koinly|cointracking|kucoin`: the ledger as the
CSV files Koinly, CoinTracking and KuCoin's own website export have.

A window's entries are encoded together: a trade's legs (same time, same
context, same business type) become one row of Koinly or CoinTracking, and
internal transfers are left out of both (docs/export.md). Amounts are exact:
each entry moves its account's balance by `amount`, and `fee` is the part of
it that was a fee; the rows are built so each tool's arithmetic gives back
exactly that movement."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from kuledger.cli.export_output import ZERO, csv_line, net_text
from kuledger.cli.tax_categories import NAMES, Category, canonical, category_of
from kuledger.domain import biztypes
from kuledger.domain.errors import UnknownBizType
from kuledger_client import AnyLedgerEntry, FuturesLedgerEntry

KOINLY_COLUMNS = (
    "Date", "Sent Amount", "Sent Currency", "Received Amount", "Received Currency",
    "Fee Amount", "Fee Currency", "Net Worth Amount", "Net Worth Currency", "Label",
    "Description", "TxHash",
)  # fmt: skip
COINTRACKING_COLUMNS = (
    "Type", "Buy Amount", "Buy Currency", "Sell Amount", "Sell Currency", "Fee",
    "Fee Currency", "Exchange", "Trade-Group", "Comment", "Date", "Tx-ID",
    "Buy Value in Account Currency", "Sell Value in Account Currency",
    "Liquidity pool",
)  # fmt: skip
KUCOIN_COLUMNS = (
    "UID", "Account Type", "Currency", "Side", "Amount", "Fee", "Time(UTC+00:00)",
    "Remark", "Type",
)  # fmt: skip
COLUMNS = {
    "koinly": KOINLY_COLUMNS,
    "cointracking": COINTRACKING_COLUMNS,
    "kucoin": KUCOIN_COLUMNS,
}
TAX_FORMATS = tuple(COLUMNS)
EXCHANGE = "KuCoin"
# KuCoin's "Account Type" column; mainAccount is the one value seen in a
# KuCoin file (BittyTax's tests), the others follow its pattern.
ACCOUNT_TYPES = {
    "MAIN": "mainAccount",
    "TRADE": "tradeAccount",
    "TRADE_HF": "tradeAccount",
    "MARGIN": "marginAccount",
    "MARGIN_V2": "marginAccount",
    "ISOLATED": "isolatedMarginAccount",
    "ISOLATED_V2": "isolatedMarginAccount",
    "CONTRACT": "futuresAccount",
}


@dataclass(frozen=True, slots=True)
class Leg:
    """One entry as a signed movement of its currency."""

    ledger: str
    id: str
    at: int
    currency: str
    net: Decimal  # the balance change: + in, - out
    fee: Decimal  # the part of the movement that was a fee (>= 0)
    biz: str  # the catalogue code, or the futures `type`
    category: Category
    context: str

    @classmethod
    def of(cls, ledger: str, entry: AnyLedgerEntry) -> Leg:
        if isinstance(entry, FuturesLedgerEntry):
            net, biz, context = entry.amount, entry.type, entry.remark
            category = category_of(biz, futures=True)
        else:
            net = entry.amount if entry.direction == "in" else -entry.amount
            biz, context = canonical(entry.biz_type), entry.context
            category = category_of(biz)
        return cls(
            ledger,
            entry.id,
            entry.created_at,
            entry.currency,
            net,
            abs(entry.fee),
            biz,
            category,
            context,
        )


@dataclass(frozen=True, slots=True)
class Trade:
    bought: Leg
    sold: Leg
    fee_leg: Leg | None  # the fee paid in a third currency (KCS)

    @property
    def legs(self) -> tuple[Leg, ...]:
        extra = (self.fee_leg,) if self.fee_leg else ()
        return (self.sold, self.bought, *extra)

    @property
    def fee_from(self) -> Leg | None:
        """The bought or sold leg the fee was taken from, if either."""
        if self.fee_leg is not None:
            return None
        return self.sold if self.sold.fee else self.bought if self.bought.fee else None


def header(fmt: str) -> bytes:
    return csv_line(list(COLUMNS[fmt]))


def encode_window(
    fmt: str, ledger: str, entries: Sequence[AnyLedgerEntry], uid: str = ""
) -> tuple[bytes, int]:
    """A window's lines, and how many entries were left out (internal)."""
    if fmt == "kucoin":
        return b"".join(csv_line(kucoin_row(e, uid)) for e in entries), 0
    rows: list[list[str]] = []
    omitted = 0
    for group in _groups([Leg.of(ledger, e) for e in entries]):
        if group[0].category is Category.INTERNAL:
            omitted += len(group)
            continue
        trade = _pair(group) if group[0].category is Category.TRADE else None
        if fmt == "koinly":
            rows.extend([koinly_trade(trade)] if trade else map(koinly_row, group))
        elif trade:
            rows.extend(cointracking_trade(trade))
        else:
            rows.extend(cointracking_row(leg) for leg in group)
    return b"".join(csv_line(r) for r in rows), omitted


def _groups(legs: list[Leg]) -> Iterator[list[Leg]]:
    """Each leg alone, except a trade's legs together (at the first's place)."""
    groups: dict[object, list[Leg]] = {}
    for index, leg in enumerate(legs):
        key: object = index
        if leg.category is Category.TRADE:
            key = (leg.at, leg.context, leg.biz)
        groups.setdefault(key, []).append(leg)
    yield from groups.values()


def _pair(group: list[Leg]) -> Trade | None:
    """The bought and sold legs (and a third-currency fee leg, all fee), or
    None when the group is not that shape."""
    fee_legs = [g for g in group if g.net < ZERO and g.fee == -g.net]
    if len(group) != 3 or len(fee_legs) != 1:
        fee_legs = []
    rest = [g for g in group if g not in fee_legs]
    bought = [g for g in rest if g.net > ZERO]
    sold = [g for g in rest if g.net < ZERO]
    if len(bought) != 1 or len(sold) != 1:
        return None
    return Trade(bought[0], sold[0], fee_legs[0] if fee_legs else None)


def when(ms: int) -> str:
    """YYYY-MM-DD HH:MM:SS in UTC, as all three tools read it."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _amount(value: Decimal) -> str:
    return "" if value == ZERO else net_text(value)


def _tx_id(legs: Sequence[Leg]) -> str:
    return f"{legs[0].ledger}:{'+'.join(leg.id for leg in legs)}"


def _describe(leg: Leg) -> str:
    return f"{leg.biz} {leg.context}".strip()


# --- Koinly: the fee is taken on top of Sent (or out of Received) ------------------


def koinly_row(leg: Leg) -> list[str]:
    """Received - Sent - Fee is the leg's movement."""
    names = NAMES[leg.category]
    label = names.koinly_in if leg.net > ZERO else names.koinly_out
    gross, fee = leg.net + leg.fee, leg.fee
    if leg.net < ZERO and gross == ZERO:  # all of it a fee: an expense
        sent, received, fee, label = leg.fee, ZERO, ZERO, "cost"
    else:
        sent, received = max(-gross, ZERO), max(gross, ZERO)
    return [
        when(leg.at),
        _amount(sent),
        leg.currency if sent else "",
        _amount(received),
        leg.currency if received else "",
        _amount(fee),
        leg.currency if fee else "",
        "",
        "",
        label,
        _describe(leg),
        _tx_id([leg]),
    ]


def koinly_trade(trade: Trade) -> list[str]:
    sold, bought, source = trade.sold, trade.bought, trade.fee_from
    sent = -sold.net - (sold.fee if source is sold else ZERO)
    received = bought.net + (bought.fee if source is bought else ZERO)
    fee_leg = trade.fee_leg or source
    return [
        when(sold.at),
        net_text(sent),
        sold.currency,
        net_text(received),
        bought.currency,
        _amount(fee_leg.fee) if fee_leg else "",
        fee_leg.currency if fee_leg else "",
        "",
        "",
        "",
        _describe(sold),
        _tx_id(trade.legs),
    ]


# --- CoinTracking: Buy and Sell are the movements; Fee is for information ----------


def _cointracking(
    kind: str, bought: Leg | None, sold: Leg | None, fee: Leg | None, legs: list[Leg]
) -> list[str]:
    first = legs[0]
    return [
        kind,
        net_text(bought.net) if bought else "",
        bought.currency if bought else "",
        net_text(-sold.net) if sold else "",
        sold.currency if sold else "",
        _amount(fee.fee) if fee else "",
        fee.currency if fee and fee.fee else "",
        EXCHANGE,
        first.ledger,
        _describe(first),
        when(first.at),
        _tx_id(legs),
        "",
        "",
        "",
    ]


def cointracking_row(leg: Leg) -> list[str]:
    names = NAMES[leg.category]
    incoming = leg.net > ZERO
    kind = names.cointracking_in if incoming else names.cointracking_out
    if leg.category is Category.TRADE:  # a leg without its other side
        kind = "Deposit" if incoming else "Withdrawal"
    bought, sold = (leg, None) if incoming else (None, leg)
    return _cointracking(kind, bought, sold, leg, [leg])


def cointracking_trade(trade: Trade) -> list[list[str]]:
    """The Trade row; a fee in a third currency is an Other Fee row of its own."""
    rows = [
        _cointracking(
            "Trade", trade.bought, trade.sold, trade.fee_from, list(trade.legs)
        )
    ]
    if trade.fee_leg is not None:
        fee = trade.fee_leg
        rows.append(_cointracking("Other Fee", None, fee, None, [fee]))
    return rows


# --- KuCoin's account history: one row per entry, as KuCoin's website writes it -----


def _display(biz_type: str) -> str:
    try:
        return biztypes.lookup(biz_type).display
    except UnknownBizType:
        return biz_type


def kucoin_row(entry: AnyLedgerEntry, uid: str) -> list[str]:
    raw = entry.raw
    if isinstance(entry, FuturesLedgerEntry):
        amount = str(raw["amount"])
        side = "Withdrawal" if amount.startswith("-") else "Deposit"
        return [
            uid,
            ACCOUNT_TYPES["CONTRACT"],
            entry.currency,
            side,
            amount.removeprefix("-"),
            str(raw["fee"]),
            when(entry.time),
            entry.remark,
            entry.type,
        ]
    return [
        uid,
        ACCOUNT_TYPES.get(entry.account_type, entry.account_type),
        entry.currency,
        "Deposit" if entry.direction == "in" else "Withdrawal",
        str(raw["amount"]),
        str(raw["fee"]),
        when(entry.created_at),
        entry.context,
        _display(entry.biz_type),
    ]
