"""The Account service's views beyond the account list: the account summary,
the calling key's info, cross and isolated margin (v3, and the deprecated v1
routes real clients still call), and the futures account overview.

Margin liabilities are always zero (kuledger lends nothing). Isolated
accounts are kept per currency, not per symbol: each isolated symbol of the
catalogue shows the user's isolated balances of its two currencies, and the
totals count each account once."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, NamedTuple

import orjson

from kuledger.domain.accounts import Account, AccountType
from kuledger.domain.errors import InvalidInput, UnknownApiKey
from kuledger.domain.fields import choice, read, text
from kuledger.domain.money import ZERO, to_wire
from kuledger.domain.subaccounts import key_permission_text
from kuledger.domain.users import Permission
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
from kuledger.http.endpoints.catalogue import margin_pairs, usdt_price
from kuledger.http.routing import Endpoint
from kuledger.services.account_info import (
    Balance,
    account_summary,
    balances,
    isolated_positions,
    value_in,
)

NUMBER: dict[str, Any] = {"type": "number"}
QUOTES = ("USDT", "KCS", "BTC")
_CROSS = {
    "MARGIN": (AccountType.MARGIN,),
    "MARGIN_V2": (AccountType.MARGIN_V2,),
    "ALL": (AccountType.MARGIN, AccountType.MARGIN_V2),
}
_ISOLATED = {
    "ISOLATED": (AccountType.ISOLATED,),
    "ISOLATED_V2": (AccountType.ISOLATED_V2,),
    "ALL": (AccountType.ISOLATED, AccountType.ISOLATED_V2),
}
_VALUE_STEP = Decimal("0.00000001")


def _uid(uid: str) -> int | str:
    """KuCoin's uids are integers; a kuledger uid that is not digits stays text."""
    return int(uid) if uid.isascii() and uid.isdigit() and len(uid) < 19 else uid


def _value(rows: list[Balance], quote: str) -> str:
    return to_wire(value_in(rows, quote, usdt_price).quantize(_VALUE_STEP))


# --- GET /api/v2/user-info, GET /api/v1/user/api-key ---------------------------


def get_account_info(call: Call) -> dict[str, int]:
    user = call.services.reader.user(call.uid)
    queries = call.services.account_info
    assert user is not None  # the key authenticated: its user exists
    s = account_summary(user, queries.sub_accounts(call.uid) if queries else [])
    return {
        "level": s.level,
        "subQuantity": s.subs,
        "spotSubQuantity": s.subs,
        "marginSubQuantity": s.margin_subs,
        "futuresSubQuantity": s.futures_subs,
        "optionSubQuantity": 0,
        "maxSubQuantity": s.max_subs,
        "maxDefaultSubQuantity": s.max_subs,
        "maxSpotSubQuantity": 0,
        "maxMarginSubQuantity": 0,
        "maxFuturesSubQuantity": 0,
        "maxOptionSubQuantity": 0,
    }


def get_apikey_info(call: Call) -> dict[str, Any]:
    assert call.principal is not None
    stored = call.services.reader.api_key(call.principal.key)
    user = call.services.reader.user(call.uid)
    if stored is None or user is None:  # revoked between the check and now
        raise UnknownApiKey(call.principal.key)
    queries = call.services.account_info
    remark, name = queries.key_labels(stored.key, user.uid) if queries else ("", None)
    is_master = user.parent_uid is None
    return {
        "remark": remark,
        "apiKey": stored.key,
        "apiVersion": stored.key_version,
        "permission": key_permission_text(frozenset(stored.permissions.split(","))),
        "ipWhitelist": stored.ip_whitelist,
        "createdAt": stored.created_at,
        "uid": _uid(stored.uid),
        "isMaster": is_master,
        "subName": "" if is_master else name or user.uid,
    }


# --- cross margin ---------------------------------------------------------------


class MarginParams(NamedTuple):
    quote: Annotated[str, choice("quoteCurrency", QUOTES)] = "USDT"
    query_type: Annotated[str | None, choice("queryType", tuple(_CROSS))] = None
    type: Annotated[str | None, choice("type", tuple(_CROSS))] = None  # python-kucoin


def _accounts(call: Call) -> list[Account]:
    return call.services.reader.accounts(call.uid)


def _cross_item(b: Balance) -> dict[str, Any]:
    return {
        "currency": b.currency,
        "total": to_wire(b.total),
        "available": to_wire(b.available),
        "hold": to_wire(b.hold),
        "liability": "0",
        "liabilityPrincipal": "0",
        "liabilityInterest": "0",
        "maxBorrowSize": "0",
        "borrowEnabled": False,
        "transferInEnabled": True,
    }


def get_cross_margin_account(call: Call) -> dict[str, Any]:
    p = read(MarginParams, call.query)
    rows = balances(_accounts(call), _CROSS[p.query_type or p.type or "MARGIN"])
    return {
        "totalAssetOfQuoteCurrency": _value(rows, p.quote),
        "totalLiabilityOfQuoteCurrency": "0",
        "debtRatio": "0",
        "status": "EFFECTIVE",
        "accounts": [_cross_item(b) for b in rows],
    }


def get_margin_account_v1(call: Call) -> dict[str, Any]:
    rows = balances(_accounts(call), (AccountType.MARGIN,))
    return {
        "debtRatio": "0",
        "accounts": [
            {
                "currency": b.currency,
                "totalBalance": to_wire(b.total),
                "availableBalance": to_wire(b.available),
                "holdBalance": to_wire(b.hold),
                "liability": "0",
                "maxBorrowSize": "0",
            }
            for b in rows
        ],
    }


# --- isolated margin ------------------------------------------------------------


class IsolatedParams(NamedTuple):
    symbol: Annotated[str | None, text("symbol")] = None
    quote: Annotated[str, choice("quoteCurrency", QUOTES)] = "USDT"
    query_type: Annotated[str | None, choice("queryType", tuple(_ISOLATED))] = None
    type: Annotated[str | None, choice("type", tuple(_ISOLATED))] = None


def _held(by_code: dict[str, Balance], code: str, shown: bool = True) -> Balance:
    found = by_code.get(code) if shown else None
    return found or Balance(code, ZERO, ZERO, ZERO)


def _positions(
    call: Call, types: tuple[AccountType, ...], symbol: str | None
) -> tuple[list[Balance], list[tuple[str, Balance, Balance]]]:
    """The isolated balances, and the (symbol, base, quote) positions showing
    them (services.account_info.isolated_positions); with `symbol`, that
    symbol's two balances, held or not."""
    rows = balances(_accounts(call), types)
    by_code = {b.currency: b for b in rows}
    pairs = margin_pairs(call.services.reader.currencies())
    if symbol is not None:
        placed = [(p, True, True) for p in pairs if f"{p[0]}-{p[1]}" == symbol]
    else:
        placed = isolated_positions(by_code, pairs)
    return rows, [
        (f"{b}-{q}", _held(by_code, b, show_b), _held(by_code, q, show_q))
        for (b, q), show_b, show_q in placed
    ]


def get_isolated_margin_account(call: Call) -> dict[str, Any]:
    p = read(IsolatedParams, call.query)
    types = _ISOLATED[p.query_type or p.type or "ISOLATED"]
    rows, positions = _positions(call, types, p.symbol)
    return {
        "totalAssetOfQuoteCurrency": _value(rows, p.quote),
        "totalLiabilityOfQuoteCurrency": "0",
        "timestamp": call.services.clock(),
        "assets": [
            {
                "symbol": name,
                "status": "EFFECTIVE",
                "debtRatio": "0",
                "baseAsset": _cross_item(base),
                "quoteAsset": _cross_item(quote),
            }
            for name, base, quote in positions
        ],
    }


def _v1_asset(b: Balance) -> dict[str, str]:
    return {
        "currency": b.currency,
        "totalBalance": to_wire(b.total),
        "holdBalance": to_wire(b.hold),
        "availableBalance": to_wire(b.available),
        "liability": "0",
        "interest": "0",
        "borrowableAmount": "0",
    }


def _v1_position(name: str, base: Balance, quote: Balance) -> dict[str, Any]:
    return {
        "symbol": name,
        "status": "CLEAR",  # no debt
        "debtRatio": "0",
        "baseAsset": _v1_asset(base),
        "quoteAsset": _v1_asset(quote),
    }


def get_isolated_accounts_v1(call: Call) -> dict[str, Any]:
    quote = call.query.choice("balanceCurrency", QUOTES, "BTC") or "BTC"
    rows, positions = _positions(call, (AccountType.ISOLATED,), None)
    return {
        "totalConversionBalance": _value(rows, quote),
        "liabilityConversionBalance": "0",
        "assets": [_v1_position(*position) for position in positions],
    }


def get_isolated_account_v1(call: Call) -> dict[str, Any]:
    symbol = call.path_params["symbol"]
    _rows, positions = _positions(call, (AccountType.ISOLATED,), symbol)
    if not positions:
        raise InvalidInput(
            "symbol", f"symbol not an isolated margin symbol: {symbol!r}"
        )
    return _v1_position(*positions[0])


# --- GET /api/v1/account-overview (futures host) --------------------------------


def _number(amount: Decimal) -> orjson.Fragment:
    return orjson.Fragment(to_wire(amount).encode())


def get_futures_account(call: Call) -> dict[str, Any]:
    asked = call.query.text("currency") or "XBT"
    code = "BTC" if asked == "XBT" else asked  # XBT: the futures host's BTC
    if code not in call.services.reader.currencies():
        raise InvalidInput("currency", f"currency not supported: {asked!r}")
    found = call.services.reader.accounts(call.uid, code, AccountType.CONTRACT)
    balance = found[0].balance if found else ZERO
    available = found[0].available if found else ZERO
    return {
        "accountEquity": _number(balance),
        "unrealisedPNL": _number(ZERO),
        "marginBalance": _number(balance),
        "positionMargin": _number(ZERO),
        "orderMargin": _number(balance - available),
        "frozenFunds": _number(ZERO),
        "availableBalance": _number(available),
        "currency": asked,
        "riskRatio": _number(ZERO),
        "maxWithdrawAmount": _number(available),
    }


# --- the table --------------------------------------------------------------------

_QUOTE = query(
    "quoteCurrency",
    {"type": "string", "enum": list(QUOTES)},
    "USDT (default), KCS or BTC",
)
_MARGIN_ITEM = obj(
    currency=STRING,
    total=STRING,
    available=STRING,
    hold=STRING,
    liability=STRING,
    liabilityPrincipal=STRING,
    liabilityInterest=STRING,
    maxBorrowSize=STRING,
    borrowEnabled=BOOLEAN,
    transferInEnabled=BOOLEAN,
)
_V1_ASSET = obj(
    currency=STRING,
    totalBalance=STRING,
    holdBalance=STRING,
    availableBalance=STRING,
    liability=STRING,
    interest=STRING,
    borrowableAmount=STRING,
)
_V1_POSITION = obj(
    symbol=STRING,
    status=STRING,
    debtRatio=STRING,
    baseAsset=_V1_ASSET,
    quoteAsset=_V1_ASSET,
)
_SUMMARY_FIELDS = [
    "level",
    "subQuantity",
    "spotSubQuantity",
    "marginSubQuantity",
    "futuresSubQuantity",
    "optionSubQuantity",
    "maxSubQuantity",
    "maxDefaultSubQuantity",
    "maxSpotSubQuantity",
    "maxMarginSubQuantity",
    "maxFuturesSubQuantity",
    "maxOptionSubQuantity",
]
_API_KEY = obj(
    remark=STRING,
    apiKey=STRING,
    apiVersion=INTEGER,
    permission=STRING,
    ipWhitelist=STRING,
    createdAt=INTEGER,
    uid={"type": ["integer", "string"]},
    isMaster=BOOLEAN,
    subName=STRING,  # "" for a master
)

ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v2/user-info",
        get_account_info,
        "Get Account Summary Info",
        pool="Management",
        weight=20,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470119",
        response=obj(**dict.fromkeys(_SUMMARY_FIELDS, INTEGER)),
    ),
    Endpoint(
        "GET",
        "/api/v1/user/api-key",
        get_apikey_info,
        "Get Apikey Info",
        pool="Management",
        weight=20,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470130",
        response=_API_KEY,
    ),
    Endpoint(
        "GET",
        "/api/v3/margin/accounts",
        get_cross_margin_account,
        "Get Account - Cross Margin",
        pool="Spot",
        weight=15,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470127",
        params=(
            _QUOTE,
            query(
                "queryType",
                {"type": "string", "enum": list(_CROSS)},
                "MARGIN (default), MARGIN_V2 or ALL",
            ),
        ),
        response=obj(
            totalAssetOfQuoteCurrency=STRING,
            totalLiabilityOfQuoteCurrency=STRING,
            debtRatio=STRING,
            status=STRING,
            accounts=array(_MARGIN_ITEM),
        ),
    ),
    Endpoint(
        "GET",
        "/api/v3/isolated/accounts",
        get_isolated_margin_account,
        "Get Account - Isolated Margin",
        pool="Spot",
        weight=15,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470128",
        params=(
            query("symbol", STRING, "one isolated symbol, e.g. BTC-USDT"),
            _QUOTE,
            query(
                "queryType",
                {"type": "string", "enum": list(_ISOLATED)},
                "ISOLATED (default), ISOLATED_V2 or ALL",
            ),
        ),
        response=obj(
            totalAssetOfQuoteCurrency=STRING,
            totalLiabilityOfQuoteCurrency=STRING,
            timestamp=INTEGER,
            assets=array(
                obj(
                    symbol=STRING,
                    status=STRING,
                    debtRatio=STRING,
                    baseAsset=_MARGIN_ITEM,
                    quoteAsset=_MARGIN_ITEM,
                )
            ),
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/account-overview",
        get_futures_account,
        "Get Account - Futures",
        permission=Permission.FUTURES,
        pool="Futures",
        weight=5,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470129",
        params=(query("currency", STRING, "XBT (default), USDT, ..."),),
        response=obj(
            **dict.fromkeys(
                [
                    "accountEquity",
                    "unrealisedPNL",
                    "marginBalance",
                    "positionMargin",
                    "orderMargin",
                    "frozenFunds",
                    "availableBalance",
                ],
                NUMBER,
            ),
            currency=STRING,
            riskRatio=NUMBER,
            maxWithdrawAmount=NUMBER,
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/margin/account",
        get_margin_account_v1,
        "Get Account Detail - Margin",
        pool="Spot",
        weight=40,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470311",
        response=obj(
            debtRatio=STRING,
            accounts=array(
                obj(
                    currency=STRING,
                    totalBalance=STRING,
                    availableBalance=STRING,
                    holdBalance=STRING,
                    liability=STRING,
                    maxBorrowSize=STRING,
                )
            ),
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/isolated/accounts",
        get_isolated_accounts_v1,
        "Get Account List - Isolated Margin - V1",
        pool="Spot",
        weight=50,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470314",
        params=(
            query(
                "balanceCurrency",
                {"type": "string", "enum": list(QUOTES)},
                "BTC (default), USDT or KCS",
            ),
        ),
        response=obj(
            totalConversionBalance=STRING,
            liabilityConversionBalance=STRING,
            assets=array(_V1_POSITION),
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/isolated/account/{symbol}",
        get_isolated_account_v1,
        "Get Account Detail - Isolated Margin - V1",
        pool="Spot",
        weight=50,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470315",
        params=(path("symbol", "an isolated symbol, e.g. BTC-USDT"),),
        response=_V1_POSITION,
    ),
)
