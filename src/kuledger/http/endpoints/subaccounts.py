"""Sub-accounts: create, list (v1, v2), detail and balances (v1, v2), margin
and futures permissions, and the futures balances of all of them. Only a
master may call them (NotAMasterAccount: 400007)."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any, NamedTuple

import orjson

from kuledger.domain.accounts import Account, AccountType
from kuledger.domain.errors import InvalidInput
from kuledger.domain.fields import choice, integer, read, text
from kuledger.domain.money import ZERO, Currency, to_wire
from kuledger.domain.subaccounts import ACCESS, SubAccount
from kuledger.domain.users import Permission
from kuledger.http.body import body_fields
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import (
    BOOLEAN,
    INTEGER,
    STRING,
    array,
    obj,
    path,
    query,
)
from kuledger.http.endpoints.catalogue import static_price
from kuledger.http.routing import Endpoint
from kuledger.services import subaccounts
from kuledger.services.subaccounts import NewSubAccount

MAX_PAGE = 1_000_000_000
NORMAL = 2  # status: 2 enabled, 3 frozen
# Which balance list shows an account type: trade_hf is the trade account of
# an HF user, margin_v2 the cross margin account of one (kucoin-api-spec.md 3).
BALANCE_LISTS = {
    AccountType.MAIN: "mainAccounts",
    AccountType.TRADE: "tradeAccounts",
    AccountType.TRADE_HF: "tradeAccounts",
    AccountType.MARGIN: "marginAccounts",
    AccountType.MARGIN_V2: "marginAccounts",
}
_BOOL = {"True": "true", "False": "false"}  # python-kucoin sends Python's bool


class CreateBody(NamedTuple):
    password: Annotated[str, text("password", required=True, max_len=64)]
    sub_name: Annotated[str, text("subName", required=True, max_len=64)]
    access: Annotated[str, choice("access", ACCESS, required=True)]
    remarks: Annotated[str | None, text("remarks", max_len=64)] = None


class UidBody(NamedTuple):
    uid: Annotated[str, text("uid", required=True, max_len=64)]


class PageParams(NamedTuple):
    current_page: Annotated[int, integer("currentPage", low=1, high=MAX_PAGE)] = 1
    page_size: Annotated[int, integer("pageSize", low=1, high=100)] = 10


class BalancePageParams(NamedTuple):
    current_page: Annotated[int, integer("currentPage", low=1, high=MAX_PAGE)] = 1
    page_size: Annotated[int, integer("pageSize", low=10, high=100)] = 10


class DetailParams(NamedTuple):
    include: Annotated[
        str, choice("includeBaseAmount", ("true", "false"), aliases=_BOOL)
    ] = "false"
    base_currency: Annotated[str, text("baseCurrency", max_len=32)] = "BTC"
    base_amount: Annotated[str | None, text("baseAmount", max_len=64)] = None


class OverviewParams(NamedTuple):
    currency: Annotated[str, text("currency", max_len=32)] = "XBT"


# --- create, permissions, lists ---


def create_sub(call: Call) -> dict[str, Any]:
    body = read(CreateBody, body_fields(call.body, call.content_type))
    sub = subaccounts.create_sub(
        call.services.uow,
        call.services.clock,
        call.uid,
        NewSubAccount(body.sub_name, body.password, body.access, body.remarks),
    )
    return {
        "uid": uid_number(sub.uid),
        "subName": sub.name,
        "remarks": sub.remarks,
        "access": sub.access,
    }


def enable_margin(call: Call) -> None:
    body = read(UidBody, body_fields(call.body, call.content_type))
    subaccounts.enable(call.services.uow, call.uid, body.uid, margin=True)


def enable_futures(call: Call) -> None:
    body = read(UidBody, body_fields(call.body, call.content_type))
    subaccounts.enable(call.services.uow, call.uid, body.uid, futures=True)


def uid_number(uid: str) -> int:
    """KuCoin's uid is a number: kuledger's own are; an operator's other uid
    shows as 0 (its `userId` is the uid)."""
    return int(uid) if uid.isascii() and uid.isdigit() else 0


def _summary_v1(sub: SubAccount) -> dict[str, Any]:
    return {
        "userId": sub.uid,
        "uid": uid_number(sub.uid),
        "subName": sub.name,
        "type": 0,  # a normal sub-account
        "remarks": sub.remarks,
        "access": sub.access,
    }


def list_subs_v2(call: Call) -> dict[str, Any]:
    p = read(PageParams, call.query)
    total, subs = subaccounts.sub_page(
        call.services.uow, call.uid, p.current_page, p.page_size
    )
    items = [
        {
            **_summary_v1(sub),
            "status": NORMAL,
            "createdAt": sub.created_at,
            "tradeTypes": sub.trade_types,
            "openedTradeTypes": sub.trade_types,
            "hostedStatus": None,
        }
        for sub in subs
    ]
    return _page(p.current_page, p.page_size, total, items)


def list_subs_v1(call: Call) -> list[dict[str, Any]]:
    return [_summary_v1(s) for s in subaccounts.all_subs(call.services.uow, call.uid)]


def _page(page: int, size: int, total: int, items: list[Any]) -> dict[str, Any]:
    return {
        "currentPage": page,
        "pageSize": size,
        "totalNum": total,
        "totalPage": (total + size - 1) // size,
        "items": items,
    }


# --- balances ---


class Valuation(NamedTuple):
    """How balances are shown: in which currency they are valued, and which."""

    currencies: dict[str, Currency]
    base: Currency
    include_zero: bool = True
    at_least: Decimal | None = None  # of baseAmount


def _valuation(call: Call, p: DetailParams | None = None) -> Valuation:
    currencies = call.services.reader.currencies()
    code = p.base_currency if p else "BTC"
    if code not in currencies:
        raise InvalidInput("baseCurrency", f"unknown currency {code!r}")
    at_least = None
    if p and p.base_amount is not None:
        try:
            at_least = Decimal(p.base_amount)
        except ArithmeticError:
            at_least = None
        if at_least is None or not at_least.is_finite() or at_least < ZERO:
            raise InvalidInput("baseAmount", "baseAmount must be a decimal >= 0")
    include_zero = p is None or p.include == "true"
    return Valuation(currencies, currencies[code], include_zero, at_least)


def _balance(account: Account, v: Valuation) -> dict[str, str] | None:
    # As KuCoin: the base currency's price in the account's currency
    # (1 BTC = 60000 USDT), and the balance divided by it.
    currency = v.currencies.get(account.key.currency)
    price = static_price(v.base, currency) if currency else ZERO
    step = Decimal(1).scaleb(-v.base.precision)
    value = (account.balance / price).quantize(step, ROUND_DOWN) if price else ZERO
    if not v.include_zero and account.balance == ZERO:
        return None
    if v.at_least is not None and value < v.at_least:
        return None
    return {
        "currency": account.key.currency,
        "balance": to_wire(account.balance),
        "available": to_wire(account.available),
        "holds": to_wire(account.holds),
        "baseCurrency": v.base.code,
        "baseCurrencyPrice": to_wire(price),
        "baseAmount": to_wire(value),
        "tag": "DEFAULT",
    }


def _balances(call: Call, sub: SubAccount, v: Valuation) -> dict[str, Any]:
    lists: dict[str, list[dict[str, str]]] = {
        "mainAccounts": [],
        "tradeAccounts": [],
        "marginAccounts": [],
        "tradeHFAccounts": [],  # deprecated: HF balances are in tradeAccounts
    }
    for account in call.services.reader.accounts(sub.uid):
        where = BALANCE_LISTS.get(account.key.type)
        item = _balance(account, v) if where else None
        if where and item:
            lists[where].append(item)
    return {"subUserId": sub.uid, "subName": sub.name, **lists}


def sub_detail(call: Call) -> dict[str, Any]:
    p = read(DetailParams, call.query)
    valuation = _valuation(call, p)
    uid = call.path_params["subUserId"]
    sub = subaccounts.sub_account(call.services.uow, call.uid, uid)
    return _balances(call, sub, valuation)


def balances_v1(call: Call) -> list[dict[str, Any]]:
    valuation = _valuation(call)
    subs = subaccounts.all_subs(call.services.uow, call.uid)
    return [_balances(call, sub, valuation) for sub in subs]


def balances_v2(call: Call) -> dict[str, Any]:
    p = read(BalancePageParams, call.query)
    valuation = _valuation(call)
    total, subs = subaccounts.sub_page(
        call.services.uow, call.uid, p.current_page, p.page_size
    )
    items = [_balances(call, sub, valuation) for sub in subs]
    return _page(p.current_page, p.page_size, total, items)


def _number(amount: Decimal) -> orjson.Fragment:
    """An exact decimal as a JSON number, as the futures host sends amounts."""
    return orjson.Fragment(to_wire(amount).encode())


def futures_balances(call: Call) -> dict[str, Any]:
    """The contract account of the master ("main") and of each sub-account."""
    p = read(OverviewParams, call.query)
    code = "BTC" if p.currency == "XBT" else p.currency  # KuCoin's futures name
    subs = subaccounts.all_subs(call.services.uow, call.uid)
    named = [(call.uid, "main"), *((s.uid, s.name) for s in subs)]
    rows, totals = [], [ZERO, ZERO, ZERO]
    for uid, name in named:
        found = call.services.reader.accounts(uid, code, AccountType.CONTRACT)
        balance = found[0].balance if found else ZERO
        available = found[0].available if found else ZERO
        holds = found[0].holds if found else ZERO
        totals = [totals[0] + balance, totals[1] + available, totals[2] + holds]
        rows.append(_overview(name, p.currency, balance, available, holds))
    return {
        "summary": {
            "accountEquityTotal": _number(totals[0]),
            "unrealisedPNLTotal": _number(ZERO),
            "marginBalanceTotal": _number(totals[0]),
            "positionMarginTotal": _number(ZERO),
            "orderMarginTotal": _number(ZERO),
            "frozenFundsTotal": _number(totals[2]),
            "availableBalanceTotal": _number(totals[1]),
            "currency": p.currency,
        },
        "accounts": rows,
    }


def _overview(
    name: str, currency: str, balance: Decimal, available: Decimal, holds: Decimal
) -> dict[str, Any]:
    return {
        "accountName": name,
        "accountEquity": _number(balance),
        "unrealisedPNL": _number(ZERO),
        "marginBalance": _number(balance),
        "positionMargin": _number(ZERO),
        "orderMargin": _number(ZERO),
        "frozenFunds": _number(holds),
        "availableBalance": _number(available),
        "currency": currency,
    }


# --- the table ---

NUMBER: dict[str, Any] = {"type": "number"}
SUMMARY_V1 = obj(
    userId=STRING, uid=INTEGER, subName=STRING, type=INTEGER, remarks=STRING,
    access=STRING,
)  # fmt: skip
SUMMARY_V2 = obj(
    **SUMMARY_V1["properties"],
    status=INTEGER,
    createdAt=INTEGER,
    tradeTypes=array(STRING),
    openedTradeTypes=array(STRING),
    hostedStatus={"type": "string", "nullable": True},
)
BALANCE = obj(
    currency=STRING, balance=STRING, available=STRING, holds=STRING,
    baseCurrency=STRING, baseCurrencyPrice=STRING, baseAmount=STRING, tag=STRING,
)  # fmt: skip
BALANCES = obj(
    subUserId=STRING,
    subName=STRING,
    mainAccounts=array(BALANCE),
    tradeAccounts=array(BALANCE),
    marginAccounts=array(BALANCE),
    tradeHFAccounts=array(BALANCE),
)


def paged(item: dict[str, Any]) -> dict[str, Any]:
    return obj(
        currentPage=INTEGER,
        pageSize=INTEGER,
        totalNum=INTEGER,
        totalPage=INTEGER,
        items=array(item),
    )


PAGE_PARAMS = (
    query("currentPage", INTEGER, "page number, from 1 (default 1)"),
    query("pageSize", INTEGER, "page size (default 10)"),
)
_OVERVIEW_ROW = {
    "accountName": STRING,
    **dict.fromkeys(
        (
            "accountEquity",
            "unrealisedPNL",
            "marginBalance",
            "positionMargin",
            "orderMargin",
            "frozenFunds",
            "availableBalance",
        ),
        NUMBER,
    ),
    "currency": STRING,
}
_OVERVIEW_SUMMARY = {
    **dict.fromkeys(
        (
            "accountEquityTotal",
            "unrealisedPNLTotal",
            "marginBalanceTotal",
            "positionMarginTotal",
            "orderMarginTotal",
            "frozenFundsTotal",
            "availableBalanceTotal",
        ),
        NUMBER,
    ),
    "currency": STRING,
}


def kucoin_page(number: int) -> str:
    return f"https://www.kucoin.com/docs-new/api-{number}"


ENDPOINTS = (
    Endpoint(
        "POST",
        "/api/v2/sub/user/created",
        create_sub,
        "Add sub-account",
        pool="Management",
        weight=15,
        kucoin_doc=kucoin_page(3470135),
        response=obj(uid=INTEGER, subName=STRING, remarks=STRING, access=STRING),
    ),
    Endpoint(
        "POST",
        "/api/v3/sub/user/margin/enable",
        enable_margin,
        "Add sub-account Margin Permission",
        permission=Permission.MARGIN,
        pool="Management",
        weight=15,
        kucoin_doc=kucoin_page(3470331),
        response={"type": "string", "nullable": True},
    ),
    Endpoint(
        "POST",
        "/api/v3/sub/user/futures/enable",
        enable_futures,
        "Add sub-account Futures Permission",
        permission=Permission.FUTURES,
        pool="Management",
        weight=15,
        kucoin_doc=kucoin_page(3470332),
        response={"type": "string", "nullable": True},
    ),
    Endpoint(
        "GET",
        "/api/v2/sub/user",
        list_subs_v2,
        "Get sub-account List - Summary Info",
        pool="Management",
        weight=20,
        kucoin_doc=kucoin_page(3470131),
        params=PAGE_PARAMS,
        response=paged(SUMMARY_V2),
    ),
    Endpoint(
        "GET",
        "/api/v1/sub/user",
        list_subs_v1,
        "Get sub-account List - Summary Info (V1)",
        pool="Management",
        weight=20,
        kucoin_doc=kucoin_page(3470298),
        response=array(SUMMARY_V1),
    ),
    Endpoint(
        "GET",
        "/api/v1/sub-accounts/{subUserId}",
        sub_detail,
        "Get sub-account Detail - Balance",
        pool="Management",
        weight=15,
        kucoin_doc=kucoin_page(3470132),
        params=(
            path("subUserId", "the sub-account's userId"),
            query("includeBaseAmount", BOOLEAN, "true: also zero balances"),
            query("baseCurrency", STRING, "value balances in it (default BTC)"),
            query("baseAmount", STRING, "only balances worth at least this"),
        ),
        response=BALANCES,
    ),
    Endpoint(
        "GET",
        "/api/v1/sub-accounts",
        balances_v1,
        "Get sub-account List - Spot Balance (V1)",
        pool="Management",
        weight=20,
        kucoin_doc=kucoin_page(3470299),
        response=array(BALANCES),
    ),
    Endpoint(
        "GET",
        "/api/v2/sub-accounts",
        balances_v2,
        "Get sub-account List - Spot Balance (V2)",
        pool="Management",
        weight=20,
        kucoin_doc=kucoin_page(3470133),
        params=PAGE_PARAMS,
        response=paged(BALANCES),
    ),
    Endpoint(
        "GET",
        "/api/v1/account-overview-all",
        futures_balances,
        "Get sub-account List - Futures Balance (V2)",
        pool="Futures",
        weight=6,
        kucoin_doc=kucoin_page(3470134),
        params=(query("currency", STRING, "currency (default XBT, i.e. BTC)"),),
        response=obj(
            summary=obj(**_OVERVIEW_SUMMARY), accounts=array(obj(**_OVERVIEW_ROW))
        ),
    ),
)
