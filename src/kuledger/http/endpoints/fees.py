"""Fees: the basic rate (GET /api/v1/base-fee) and the actual rate per symbol
(GET /api/v1/trade-fees), as services/fees.py keeps them per user.

KuCoin serves /api/v1/trade-fees on both hosts: the spot host takes
`symbols` (up to 10, comma-separated) and answers a list, the futures host
takes one `symbol` and answers an object. kuledger serves both hosts on one
port, so the parameter decides: `symbols` is the spot form, `symbol` alone
the futures one."""

from __future__ import annotations

from typing import Any

from kuledger.domain.errors import InvalidInput
from kuledger.domain.money import to_wire
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import STRING, array, obj, query
from kuledger.http.endpoints.catalogue import contract_symbols, spot_symbols
from kuledger.http.routing import Endpoint
from kuledger.services.fees import FeeRate, Market, base_rate, symbol_rates

MAX_SYMBOLS = 10  # KuCoin: "up to 10 trading pairs"


def _rates(rate: FeeRate) -> dict[str, str]:
    return {"takerFeeRate": to_wire(rate.taker), "makerFeeRate": to_wire(rate.maker)}


def get_basic_fee(call: Call) -> dict[str, str]:
    call.query.choice("currencyType", ("0", "1"), "0")  # fiat pays the same here
    return _rates(base_rate(call.services.fees, call.uid, Market.SPOT))


def _spot_symbols(call: Call, text: str) -> list[str]:
    symbols = [s.strip() for s in text.split(",") if s.strip()]
    if not symbols or len(symbols) > MAX_SYMBOLS:
        raise InvalidInput("symbols", f"symbols must name 1..{MAX_SYMBOLS} symbols")
    known = set(spot_symbols(call.services.reader.currencies()))
    unknown = [s for s in symbols if s not in known]
    if unknown:
        raise InvalidInput("symbols", f"symbol not exists: {unknown[0]}")
    return symbols


def get_actual_fee(call: Call) -> Any:
    q = call.query
    symbols = q.text("symbols")
    if symbols is not None or q.text("symbol") is None:
        if symbols is None:
            raise InvalidInput("symbols", "symbols is required")
        rates = symbol_rates(
            call.services.fees, call.uid, Market.SPOT, _spot_symbols(call, symbols)
        )
        no_tax = {"sellTaxRate": "0", "buyTaxRate": "0"}  # kuledger levies none
        return [{"symbol": s, **_rates(r), **no_tax} for s, r in rates.items()]
    symbol = q.text("symbol") or ""
    if symbol not in contract_symbols(call.services.reader.currencies()):
        raise InvalidInput("symbol", f"contract not exists: {symbol}")
    rate = symbol_rates(call.services.fees, call.uid, Market.FUTURES, [symbol])
    return {"symbol": symbol, **_rates(rate[symbol])}


_RATE = obj(takerFeeRate=STRING, makerFeeRate=STRING)

ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/base-fee",
        get_basic_fee,
        "Get Basic Fee - Spot/Margin",
        pool="Spot",
        weight=3,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470149",
        params=(
            query(
                "currencyType",
                {"type": "integer", "enum": [0, 1]},
                "0 (default): crypto, 1: fiat",
            ),
        ),
        response=_RATE,
    ),
    Endpoint(
        "GET",
        "/api/v1/trade-fees",
        get_actual_fee,
        "Get Actual Fee - Spot/Margin (symbols) and Futures (symbol)",
        pool="Spot",
        weight=3,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470150",
        params=(
            query("symbols", STRING, "spot: up to 10 symbols, comma-separated"),
            query("symbol", STRING, "futures: one contract, e.g. XBTUSDTM"),
        ),
        response={
            "oneOf": [
                array(
                    obj(
                        symbol=STRING,
                        takerFeeRate=STRING,
                        makerFeeRate=STRING,
                        sellTaxRate=STRING,
                        buyTaxRate=STRING,
                    )
                ),
                obj(symbol=STRING, takerFeeRate=STRING, makerFeeRate=STRING),
            ]
        },
    ),
)
