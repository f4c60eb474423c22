"""Operations: the only way balances change. Each is parsed from a JSON-like
payload, validated against the currency catalogue, and planned into postings
(entries to write) and hold changes. Applying a plan is `posting.apply_plan`."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, ClassVar

from kuledger.domain import biztypes
from kuledger.domain.accounts import AccountKey, AccountType
from kuledger.domain.entries import Direction, HoldChange, Posting
from kuledger.domain.errors import InvalidInput, UnknownCurrency, UnknownOperation
from kuledger.domain.fields import FILE, Fields
from kuledger.domain.money import MONEY, ZERO, Currency, parse_amount, to_wire

Currencies = Mapping[str, Currency]

MAX_ID_LENGTH = 128
_json_ascii = json.encoder.encode_basestring_ascii  # JSON string, ASCII only
# Built once: json.dumps() with options builds a new encoder on every call.
_CONTEXT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_PRICE = Currency("PRICE", 18, "price")

_TRADE_CODE = {
    AccountType.TRADE: "TRADE_EXCHANGE",
    AccountType.TRADE_HF: "TRADE_EXCHANGE",
    AccountType.MARGIN: "MARGIN_EXCHANGE",
    AccountType.MARGIN_V2: "MARGIN_EXCHANGE",
    AccountType.ISOLATED: "ISOLATED_EXCHANGE",
    AccountType.ISOLATED_V2: "ISOLATED_EXCHANGE",
}


@dataclass(frozen=True, slots=True)
class Plan:
    """What an operation does: entries to write and holds to move, in order.

    `sub_accounts` lists (parent, sub) pairs the service must confirm exist.
    """

    postings: tuple[Posting, ...] = ()
    holds: tuple[HoldChange, ...] = ()
    sub_accounts: tuple[tuple[str, str], ...] = ()
    _keys: frozenset[AccountKey] | None = field(default=None, compare=False, repr=False)

    @property
    def keys(self) -> frozenset[AccountKey]:
        """Every account the plan touches (computed once: it is asked often)."""
        cached = self._keys
        if cached is None:
            cached = frozenset(p.key for p in self.postings) | {
                h.key for h in self.holds
            }
            object.__setattr__(self, "_keys", cached)
        return cached

    @property
    def uids(self) -> set[str]:
        return {k.uid for k in self.keys}


class _OperationFields(Fields):
    """An operation's fields, with the catalogue its currencies are looked up in."""

    __slots__ = ("currencies",)

    def __init__(self, payload: Mapping[str, Any], currencies: Currencies) -> None:
        super().__init__(payload, FILE)
        self.currencies = currencies

    def currency(self, name: str = "currency", default: str | None = None) -> Currency:
        code = self.text(name, default, required=True, max_len=32)
        found = self.currencies.get(code)
        if found is None:
            raise UnknownCurrency(code, name)
        return found

    def account(self, name: str, default: str | None = None) -> AccountType:
        return AccountType.parse(
            self.text(name, default, required=True, max_len=32), name
        )

    def fee(self, currency: Currency, name: str = "fee") -> Decimal:
        return self.amount(name, currency, "0", allow_zero=True)

    def context(self) -> str:
        value = self.values.get("context")
        if value is None or value == "" or value == {}:
            return ""
        if isinstance(value, dict):
            return _CONTEXT_JSON.encode(value)
        if isinstance(value, str) and len(value) <= 4096:
            return value
        raise InvalidInput("context", "context must be a JSON object or a string")


@dataclass(frozen=True, slots=True)
class Operation:
    """Fields every operation has: `uid`, the idempotency key `id`, optional `at`."""

    name: ClassVar[str]
    allowed: ClassVar[frozenset[str]] = frozenset()

    uid: str
    id: str
    at: int | None

    def plan(self) -> Plan:
        raise NotImplementedError

    def fingerprint(self) -> str:
        """A canonical encoding of the request, compared on idempotent replays:
        compact JSON of {"op": name, field: value, ...} with sorted keys, ASCII
        only, amounts as canonical decimal text, currencies by code, `at`
        left out when not given.

        Written out by hand (the same bytes json.dumps(sort_keys=True) made,
        which fingerprints already stored hold): the encoder's generic walk
        was 4% of bulk ingestion. tests/unit/domain/test_operations.py
        compares the two.
        """
        items = []
        for name in _fingerprint_order(type(self)):
            value = self.name if name == "op" else getattr(self, name)
            if isinstance(value, str):
                text = _json_ascii(value)
            elif isinstance(value, Decimal):
                text = f'"{to_wire(value)}"'
            elif isinstance(value, Currency):
                text = _json_ascii(value.code)
            elif isinstance(value, int):  # `at`
                text = str(value)
            elif value is None and name == "at":
                continue
            else:
                raise TypeError(f"{type(self).__name__}.{name}: no fingerprint form")
            items.append(f'"{name}":{text}')
        return "{" + ",".join(items) + "}"


_FINGERPRINT_ORDER: dict[type, tuple[str, ...]] = {}


def _fingerprint_order(cls: type) -> tuple[str, ...]:
    """ "op" and the dataclass fields of `cls`, sorted: the fingerprint's keys."""
    names = _FINGERPRINT_ORDER.get(cls)
    if names is None:
        fields_ = (f.name for f in fields(cls))
        names = _FINGERPRINT_ORDER[cls] = tuple(sorted(("op", *fields_)))
    return names


@dataclass(frozen=True, slots=True)
class Deposit(Operation):
    name: ClassVar[str] = "deposit"
    allowed = frozenset({"currency", "amount", "account", "context"})
    currency: Currency = field(default=None)  # type: ignore[assignment]
    amount: Decimal = ZERO
    account: AccountType = AccountType.MAIN
    context: str = ""

    @classmethod
    def parse(cls, f: _OperationFields, common: dict[str, Any]) -> Deposit:
        currency = f.currency()
        return cls(
            **common,
            currency=currency,
            amount=f.amount("amount", currency),
            account=f.account("account", "main"),
            context=f.context(),
        )

    def plan(self) -> Plan:
        key = AccountKey(self.uid, self.account, self.currency.code)
        deposit = biztypes.BY_CODE["DEPOSIT"]
        return Plan(
            (Posting(key, Direction.IN, self.amount, deposit, ZERO, self.context),)
        )


@dataclass(frozen=True, slots=True)
class Withdrawal(Operation):
    name: ClassVar[str] = "withdrawal"
    allowed = frozenset({"currency", "amount", "fee", "account", "context"})
    currency: Currency = field(default=None)  # type: ignore[assignment]
    amount: Decimal = ZERO
    fee: Decimal = ZERO
    account: AccountType = AccountType.MAIN
    context: str = ""

    @classmethod
    def parse(cls, f: _OperationFields, common: dict[str, Any]) -> Withdrawal:
        currency = f.currency()
        amount, fee = f.amount("amount", currency), f.fee(currency)
        if fee > amount:
            raise InvalidInput(
                "fee", "fee is included in amount, so it cannot exceed it"
            )
        return cls(
            **common,
            currency=currency,
            amount=amount,
            fee=fee,
            account=f.account("account", "main"),
            context=f.context(),
        )

    def plan(self) -> Plan:
        key = AccountKey(self.uid, self.account, self.currency.code)
        withdraw = biztypes.BY_CODE["WITHDRAW"]
        out = Posting(key, Direction.OUT, self.amount, withdraw, self.fee, self.context)
        return Plan((out,))


@dataclass(frozen=True, slots=True)
class Transfer(Operation):
    name: ClassVar[str] = "transfer"
    allowed = frozenset({"currency", "amount", "from", "to"})
    currency: Currency = field(default=None)  # type: ignore[assignment]
    amount: Decimal = ZERO
    source: AccountType = AccountType.MAIN
    target: AccountType = AccountType.TRADE

    @classmethod
    def parse(cls, f: _OperationFields, common: dict[str, Any]) -> Transfer:
        currency = f.currency()
        source, target = f.account("from"), f.account("to")
        if source is target:
            raise InvalidInput("to", "from and to must be different accounts")
        return cls(
            **common,
            currency=currency,
            amount=f.amount("amount", currency),
            source=source,
            target=target,
        )

    def plan(self) -> Plan:
        code = self.currency.code
        transfer = biztypes.BY_CODE["TRANSFER"]
        return Plan(
            (
                Posting(
                    AccountKey(self.uid, self.source, code),
                    Direction.OUT,
                    self.amount,
                    transfer,
                ),
                Posting(
                    AccountKey(self.uid, self.target, code),
                    Direction.IN,
                    self.amount,
                    transfer,
                ),
            )
        )


@dataclass(frozen=True, slots=True)
class SubTransfer(Operation):
    name: ClassVar[str] = "sub_transfer"
    allowed = frozenset({"currency", "amount", "sub_uid", "direction", "from", "to"})
    currency: Currency = field(default=None)  # type: ignore[assignment]
    amount: Decimal = ZERO
    sub_uid: str = ""
    direction: str = "to_sub"
    source: AccountType = AccountType.MAIN
    target: AccountType = AccountType.MAIN

    @classmethod
    def parse(cls, f: _OperationFields, common: dict[str, Any]) -> SubTransfer:
        currency = f.currency()
        sub_uid = f.text("sub_uid", required=True)
        if sub_uid == common["uid"]:
            raise InvalidInput("sub_uid", "sub_uid must differ from uid")
        return cls(
            **common,
            currency=currency,
            amount=f.amount("amount", currency),
            sub_uid=sub_uid,
            direction=f.choice("direction", ("to_sub", "to_parent"), required=True),
            source=f.account("from", "main"),
            target=f.account("to", "main"),
        )

    def plan(self) -> Plan:
        sender, receiver = (self.uid, self.sub_uid)
        if self.direction == "to_parent":
            sender, receiver = receiver, sender
        code = self.currency.code
        sub = biztypes.BY_CODE["SUB_TRANSFER"]
        return Plan(
            (
                Posting(
                    AccountKey(sender, self.source, code),
                    Direction.OUT,
                    self.amount,
                    sub,
                ),
                Posting(
                    AccountKey(receiver, self.target, code),
                    Direction.IN,
                    self.amount,
                    sub,
                ),
            ),
            sub_accounts=((self.uid, self.sub_uid),),
        )


@dataclass(frozen=True, slots=True)
class Trade(Operation):
    """A fill: the base leg and the quote leg, plus a third leg when the fee is
    paid in another currency (e.g. KCS). Funds = price * size, rounded to the
    quote's precision against the user (up when buying, down when selling)."""

    name: ClassVar[str] = "trade"
    allowed = frozenset(
        {
            "account",
            "symbol",
            "side",
            "price",
            "size",
            "fee",
            "fee_currency",
            "order_id",
            "trade_id",
        }
    )
    account: AccountType = AccountType.TRADE
    base: Currency = field(default=None)  # type: ignore[assignment]
    quote: Currency = field(default=None)  # type: ignore[assignment]
    side: str = "buy"
    price: Decimal = ZERO
    size: Decimal = ZERO
    fee: Decimal = ZERO
    fee_currency: Currency = field(default=None)  # type: ignore[assignment]
    order_id: str = ""
    trade_id: str = ""

    @classmethod
    def parse(cls, f: _OperationFields, common: dict[str, Any]) -> Trade:
        account = f.account("account", "trade")
        if account not in _TRADE_CODE:
            raise InvalidInput("account", f"account {account.value!r} cannot trade")
        symbol = f.text("symbol", required=True, max_len=32)
        base_code, sep, quote_code = symbol.partition("-")
        if not sep or "-" in quote_code or not base_code or base_code == quote_code:
            raise InvalidInput("symbol", f"symbol must be BASE-QUOTE, got {symbol!r}")
        base = f.currencies.get(base_code)
        quote = f.currencies.get(quote_code)
        if base is None or quote is None:
            raise UnknownCurrency(base_code if base is None else quote_code, "symbol")
        fee_currency = f.currency("fee_currency", quote.code)
        return cls(
            **common,
            account=account,
            base=base,
            quote=quote,
            side=f.choice("side", ("buy", "sell"), required=True),
            price=f.amount("price", _PRICE),
            size=f.amount("size", base),
            fee=f.fee(fee_currency),
            fee_currency=fee_currency,
            order_id=f.text("order_id", required=True, max_len=64),
            trade_id=f.text("trade_id", required=True, max_len=64),
        )

    def plan(self) -> Plan:
        biz = biztypes.BY_CODE[_TRADE_CODE[self.account]]
        rounding = ROUND_CEILING if self.side == "buy" else ROUND_FLOOR
        step = Decimal(1).scaleb(-self.quote.precision)
        funds = MONEY.multiply(self.price, self.size).quantize(
            step, rounding=rounding, context=MONEY
        )
        if funds <= ZERO:
            raise InvalidInput(
                "size", "price × size rounds to zero in the quote currency"
            )
        buying = self.side == "buy"
        gross = {
            self.base.code: self.size if buying else MONEY.minus(self.size),
            self.quote.code: MONEY.minus(funds) if buying else funds,
        }
        fee_code = self.fee_currency.code
        if gross.get(fee_code, ZERO) > ZERO and self.fee >= gross[fee_code]:
            raise InvalidInput(
                "fee", "the fee must be less than the amount it is paid from"
            )
        net = dict(gross)
        net[fee_code] = MONEY.subtract(net.get(fee_code, ZERO), self.fee)
        # {"symbol":...,"orderId":...,"tradeId":...}, compact and ASCII (as
        # json.dumps wrote it, 5% of bulk ingestion when it did).
        context = (
            f'{{"symbol":{_json_ascii(f"{self.base.code}-{self.quote.code}")},'
            f'"orderId":{_json_ascii(self.order_id)},'
            f'"tradeId":{_json_ascii(self.trade_id)}}}'
        )
        postings = []
        for code, change in net.items():
            fee = self.fee if code == fee_code else ZERO
            if change == ZERO:
                continue
            direction = Direction.IN if change > ZERO else Direction.OUT
            key = AccountKey(self.uid, self.account, code)
            amount = MONEY.abs(change)
            postings.append(Posting(key, direction, amount, biz, fee, context))
        postings.sort(key=lambda p: p.direction is Direction.IN)  # debits first
        return Plan(tuple(postings))


@dataclass(frozen=True, slots=True)
class Hold(Operation):
    name: ClassVar[str] = "hold"
    allowed = frozenset({"account", "currency", "amount"})
    account: AccountType = AccountType.TRADE
    currency: Currency = field(default=None)  # type: ignore[assignment]
    amount: Decimal = ZERO

    @classmethod
    def parse(cls, f: _OperationFields, common: dict[str, Any]) -> Hold:
        currency = f.currency()
        return cls(
            **common,
            account=f.account("account"),
            currency=currency,
            amount=f.amount("amount", currency),
        )

    def plan(self) -> Plan:
        key = AccountKey(self.uid, self.account, self.currency.code)
        return Plan(
            holds=(HoldChange(key, self.amount, release=self.name == "release"),)
        )


@dataclass(frozen=True, slots=True)
class Release(Hold):
    name: ClassVar[str] = "release"


@dataclass(frozen=True, slots=True)
class Adjust(Operation):
    """Any other business type (bonuses, rebates, staking, loans, ...)."""

    name: ClassVar[str] = "adjust"
    allowed = frozenset(
        {"account", "currency", "amount", "fee", "direction", "biz_type", "context"}
    )
    account: AccountType = AccountType.MAIN
    currency: Currency = field(default=None)  # type: ignore[assignment]
    amount: Decimal = ZERO
    fee: Decimal = ZERO
    direction: str = "in"
    biz_type: str = ""
    context: str = ""

    @classmethod
    def parse(cls, f: _OperationFields, common: dict[str, Any]) -> Adjust:
        currency = f.currency()
        amount, fee = f.amount("amount", currency), f.fee(currency)
        if fee > amount:
            raise InvalidInput(
                "fee", "fee is included in amount, so it cannot exceed it"
            )
        return cls(
            **common,
            account=f.account("account"),
            currency=currency,
            amount=amount,
            fee=fee,
            direction=f.choice("direction", ("in", "out"), required=True),
            biz_type=biztypes.lookup(
                f.text("biz_type", required=True, max_len=64)
            ).code,
            context=f.context(),
        )

    def plan(self) -> Plan:
        key = AccountKey(self.uid, self.account, self.currency.code)
        biz = biztypes.BY_CODE[self.biz_type]
        posting = Posting(
            key, Direction(self.direction), self.amount, biz, self.fee, self.context
        )
        return Plan((posting,))


@dataclass(frozen=True, slots=True)
class RealisedPnl(Operation):
    """A futures position's realised profit or loss, settled into the contract
    account: `pnl` is signed ("-12.5" is a loss), `fee` is charged on top, and
    the one entry moves the net (pnl - fee) in or out."""

    name: ClassVar[str] = "realised_pnl"
    allowed = frozenset({"currency", "pnl", "fee", "symbol", "account"})
    currency: Currency = field(default=None)  # type: ignore[assignment]
    pnl: Decimal = ZERO
    fee: Decimal = ZERO
    symbol: str = ""
    account: AccountType = AccountType.CONTRACT

    @classmethod
    def parse(cls, f: _OperationFields, common: dict[str, Any]) -> RealisedPnl:
        currency = f.currency()
        raw: Any = f.values.get("pnl")
        if raw is None:
            raise InvalidInput("pnl", "pnl is required")
        loss = isinstance(raw, str) and raw.startswith("-")
        magnitude = parse_amount(
            raw[1:] if loss else raw, currency, "pnl", allow_zero=True
        )
        return cls(
            **common,
            currency=currency,
            pnl=MONEY.minus(magnitude) if loss else magnitude,
            fee=f.fee(currency),
            symbol=f.text("symbol", required=True, max_len=32),
            account=f.account("account", "contract"),
        )

    def plan(self) -> Plan:
        net = MONEY.subtract(self.pnl, self.fee)
        if net == ZERO:
            raise InvalidInput("pnl", "pnl minus fee is zero: nothing moves")
        direction = Direction.IN if net > ZERO else Direction.OUT
        key = AccountKey(self.uid, self.account, self.currency.code)
        context = json.dumps({"symbol": self.symbol}, separators=(",", ":"))
        biz = biztypes.BY_CODE["REALISED_PNL"]
        posting = Posting(key, direction, MONEY.abs(net), biz, self.fee, context)
        return Plan((posting,))


OPERATIONS: dict[str, Callable[[_OperationFields, dict[str, Any]], Operation]] = {
    "deposit": Deposit.parse,
    "withdrawal": Withdrawal.parse,
    "transfer": Transfer.parse,
    "sub_transfer": SubTransfer.parse,
    "trade": Trade.parse,
    "hold": Hold.parse,
    "release": Release.parse,
    "adjust": Adjust.parse,
    "realised_pnl": RealisedPnl.parse,
}
_CLASSES: dict[str, type[Operation]] = {
    "deposit": Deposit,
    "withdrawal": Withdrawal,
    "transfer": Transfer,
    "sub_transfer": SubTransfer,
    "trade": Trade,
    "hold": Hold,
    "release": Release,
    "adjust": Adjust,
    "realised_pnl": RealisedPnl,
}
_COMMON = frozenset({"op", "uid", "id", "at"})
_ALLOWED = {name: _COMMON | cls.allowed for name, cls in _CLASSES.items()}


def parse_operation(payload: object, currencies: Currencies) -> Operation:
    """Validate a payload such as {"op":"deposit","uid":"u1","id":"d1",...}."""
    if not isinstance(payload, Mapping):
        raise InvalidInput("op", "an operation must be a JSON object")
    name = payload.get("op")
    parser = OPERATIONS.get(name) if isinstance(name, str) else None
    if parser is None:
        raise UnknownOperation(
            "op", f"unknown op {name!r}; one of {', '.join(OPERATIONS)}"
        )
    f = _OperationFields(payload, currencies)
    f.only(_ALLOWED[str(name)], str(name))
    at = f.integer("at", error="at must be a time in integer milliseconds")
    common = {
        "uid": f.text("uid", required=True),
        "id": f.text("id", required=True, max_len=MAX_ID_LENGTH),
        "at": at,
    }
    return parser(f, common)
