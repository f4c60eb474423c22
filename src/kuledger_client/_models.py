"""Typed results. Amounts are Decimal, times integer milliseconds; ledger entries
keep the item exactly as received in `.raw`, so an exporter can write it back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from kuledger_client._exceptions import TransportError

Raw = Mapping[str, Any]


def _field(raw: Raw, name: str) -> Any:
    try:
        return raw[name]
    except (KeyError, TypeError):
        raise TransportError(f"unexpected response: no {name!r} in {raw!r}") from None


def _text(raw: Raw, name: str) -> str:
    value = _field(raw, name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TransportError(f"unexpected response: {name} is {value!r}")
    return str(value)


def _int(raw: Raw, name: str) -> int:
    value = _field(raw, name)
    if isinstance(value, bool):
        raise TransportError(f"unexpected response: {name} is {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise TransportError(f"unexpected response: {name} is {value!r}")


def _decimal(raw: Raw, name: str) -> Decimal:
    """A money field: a decimal string (spot) or a JSON number already parsed
    exactly as Decimal (futures)."""
    value = _field(raw, name)
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise TransportError(f"unexpected response: {name} is {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise TransportError(f"unexpected response: {name} is {value!r}") from None
    if not number.is_finite():
        raise TransportError(f"unexpected response: {name} is {value!r}")
    return number


def _bool(raw: Raw, name: str) -> bool:
    value = _field(raw, name)
    if not isinstance(value, bool):
        raise TransportError(f"unexpected response: {name} is {value!r}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise TransportError(f"unexpected response: {what} is not a list")
    return value


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    """Compact JSON of a raw item; Decimal values (futures numbers) are written
    back as JSON numbers with their digits unchanged."""
    try:
        return _ENCODER.encode(value)  # no Decimal inside: the C encoder
    except TypeError:
        return _dumps_exact(value)


def _dumps_exact(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        pairs = (
            f"{_ENCODER.encode(str(k))}:{_dumps_exact(v)}" for k, v in value.items()
        )
        return "{" + ",".join(pairs) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_dumps_exact(v) for v in value) + "]"
    return _ENCODER.encode(value)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """An item of the spot (classic), HF or margin-HF ledger. `amount` is
    unsigned, the sign is `direction`; `tax` is None where the ledger has none."""

    id: str
    currency: str
    amount: Decimal
    fee: Decimal
    balance: Decimal
    account_type: str
    biz_type: str
    direction: str
    created_at: int
    context: str
    tax: Decimal | None = None
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def parse(cls, raw: Raw) -> LedgerEntry:
        return cls(
            id=_text(raw, "id"),
            currency=_text(raw, "currency"),
            amount=_decimal(raw, "amount"),
            fee=_decimal(raw, "fee"),
            balance=_decimal(raw, "balance"),
            account_type=_text(raw, "accountType"),
            biz_type=_text(raw, "bizType"),
            direction=_text(raw, "direction"),
            created_at=_int(raw, "createdAt"),
            context=_text(raw, "context"),
            tax=_decimal(raw, "tax") if "tax" in raw else None,
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class FuturesLedgerEntry:
    """An item of the futures ledger (GET /api/v1/transaction-history). Its
    numbers arrive as JSON numbers and are parsed exactly; `offset` is its id."""

    time: int
    type: str
    amount: Decimal
    fee: Decimal
    account_equity: Decimal
    status: str
    remark: str
    offset: int
    currency: str
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @property
    def id(self) -> str:
        return str(self.offset)

    @property
    def created_at(self) -> int:
        return self.time

    @classmethod
    def parse(cls, raw: Raw) -> FuturesLedgerEntry:
        return cls(
            time=_int(raw, "time"),
            type=_text(raw, "type"),
            amount=_decimal(raw, "amount"),
            fee=_decimal(raw, "fee"),
            account_equity=_decimal(raw, "accountEquity"),
            status=_text(raw, "status"),
            remark=_text(raw, "remark"),
            offset=_int(raw, "offset"),
            currency=_text(raw, "currency"),
            raw=raw,
        )


AnyLedgerEntry = LedgerEntry | FuturesLedgerEntry


@dataclass(frozen=True, slots=True)
class SpotLedgerPage:
    """One page of GET /api/v1/accounts/ledgers, newest first."""

    current_page: int
    page_size: int
    total_num: int
    total_page: int
    items: tuple[LedgerEntry, ...]

    @classmethod
    def parse(cls, data: Any) -> SpotLedgerPage:
        if not isinstance(data, Mapping):
            raise TransportError("unexpected response: the page is not an object")
        return cls(
            current_page=_int(data, "currentPage"),
            page_size=_int(data, "pageSize"),
            total_num=_int(data, "totalNum"),
            total_page=_int(data, "totalPage"),
            items=tuple(
                LedgerEntry.parse(i) for i in _list(data.get("items"), "items")
            ),
        )


@dataclass(frozen=True, slots=True)
class FuturesLedgerPage:
    """One page of GET /api/v1/transaction-history; `has_more` asks for the next."""

    items: tuple[FuturesLedgerEntry, ...]
    has_more: bool

    @classmethod
    def parse(cls, data: Any) -> FuturesLedgerPage:
        if not isinstance(data, Mapping):
            raise TransportError("unexpected response: the page is not an object")
        return cls(
            items=tuple(
                FuturesLedgerEntry.parse(i)
                for i in _list(data.get("dataList"), "dataList")
            ),
            has_more=_bool(data, "hasMore"),
        )


def _amounts(raw: Any) -> dict[str, Decimal]:
    """An account's balance, available and holds (balance = available + holds)."""
    return {
        "balance": _decimal(raw, "balance"),
        "available": _decimal(raw, "available"),
        "holds": _decimal(raw, "holds"),
    }


@dataclass(frozen=True, slots=True)
class Account:
    """An item of GET /api/v1/accounts: balance = available + holds."""

    id: str
    currency: str
    type: str
    balance: Decimal
    available: Decimal
    holds: Decimal
    raw: Raw = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def parse(cls, raw: Raw) -> Account:
        return cls(
            id=_text(raw, "id"),
            currency=_text(raw, "currency"),
            type=_text(raw, "type"),
            **_amounts(raw),
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class AccountDetail:
    """GET /api/v1/accounts/{accountId}."""

    currency: str
    balance: Decimal
    available: Decimal
    holds: Decimal

    @classmethod
    def parse(cls, raw: Any) -> AccountDetail:
        return cls(currency=_text(raw, "currency"), **_amounts(raw))


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """GET /api/v1/status: `status` is open, close or cancelonly."""

    status: str
    msg: str

    @classmethod
    def parse(cls, raw: Any) -> ServiceStatus:
        return cls(status=_text(raw, "status"), msg=_text(raw, "msg"))


@dataclass(frozen=True, slots=True)
class TransferResult:
    """What a transfer returns: the transfer's order id."""

    order_id: str

    @classmethod
    def parse(cls, raw: Any) -> TransferResult:
        return cls(order_id=_text(raw, "orderId"))


@dataclass(frozen=True, slots=True)
class TransferQuotas(AccountDetail):
    """GET /api/v1/accounts/transferable: an account's balances and how much
    of them may be transferred."""

    transferable: Decimal

    @classmethod
    def parse(cls, raw: Any) -> TransferQuotas:
        return cls(
            currency=_text(raw, "currency"),
            **_amounts(raw),
            transferable=_decimal(raw, "transferable"),
        )


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The gw-ratelimit-* headers of the latest reply: the pool's quota, what
    is left of it and the milliseconds until it resets."""

    limit: int
    remaining: int
    reset_ms: int
