"""Cross and isolated margin accounts: v3, and the deprecated v1 routes real
clients still call.

Margin liabilities are always zero (kuledger lends nothing). Isolated
accounts are kept per currency, not per symbol: each held currency shows in
one isolated symbol of the catalogue (services.account_info.isolated_positions),
and the totals count each account once."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, NamedTuple

from kuledger.domain.accounts import Account, AccountType
from kuledger.domain.errors import InvalidInput
from kuledger.domain.fields import choice, read, text
from kuledger.domain.money import ZERO, to_wire
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
    balances,
    isolated_positions,
    value_in,
)

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


def _value(rows: list[Balance], quote: str) -> str:
    return to_wire(value_in(rows, quote, usdt_price).quantize(_VALUE_STEP))


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


# --- the table ---


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

ENDPOINTS = (
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
