"""The catalogue clients load before their first private call: currencies,
symbols, margin symbols, tickers, futures contracts and the account mode.

ccxt's kucoin class (default options) fetches all of these in load_markets and
aborts on any 404. kuledger keeps no order book, so they are served from the
currency catalogue (the `currencies` table) and DEFAULT_SYMBOLS, with static
prices and fees. Field names and JSON types follow KuCoin's OpenAPI files
(openapi-spot-market.json, openapi-margin-market.json,
openapi-futures-market.json): every field they mark required is present.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kuledger.domain.currencies import DEFAULT_SYMBOLS, chain_of
from kuledger.domain.money import Currency, to_wire
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import (
    BOOLEAN,
    INTEGER,
    STRING,
    array,
    obj,
    query,
)
from kuledger.http.routing import Endpoint

NUMBER: dict[str, Any] = {"type": "number"}

STABLECOINS = frozenset({"USDT", "USDC"})
MARGIN_QUOTES = frozenset({"USDT", "BTC"})  # pairs quoted in these are marginable
FUTURES_QUOTE = "USDT"  # one linear perpetual per XXX-USDT symbol
FUNDING_INTERVAL_MS = 8 * 3600 * 1000
LISTED_AT_MS = 1_585_555_200_000  # a plausible first-open date for every contract
TAKER_FEE, MAKER_FEE = "0.001", "0.001"
FUTURES_TAKER_FEE, FUTURES_MAKER_FEE = 0.0006, 0.0002
NO_LIMIT = "10000000000"  # chain maximums: KuCoin's null means none


@dataclass(frozen=True, slots=True)
class _Static:
    """What a ledger does not know about a currency: a USDT price and the
    size of one futures lot. (Its chain is domain.currencies.chain_of's.)"""

    usdt_price: str
    multiplier: str


_STATIC: dict[str, _Static] = {
    "BTC": _Static("60000", "0.001"),
    "ETH": _Static("3000", "0.01"),
    "USDT": _Static("1", "1"),
    "USDC": _Static("1", "1"),
    "KCS": _Static("10", "0.1"),
    "SOL": _Static("150", "0.1"),
    "XRP": _Static("0.5", "10"),
    "DOGE": _Static("0.1", "100"),
    "TRX": _Static("0.1", "100"),
    "ADA": _Static("0.4", "10"),
}


def _static(code: str) -> _Static:
    return _STATIC.get(code) or _Static("1", "1")


def _step(precision: int) -> Decimal:
    return Decimal(1).scaleb(-precision)


def _price(base: Currency, quote: Currency) -> Decimal:
    """The static price of `base` in `quote`, on the quote's precision."""
    raw = Decimal(_static(base.code).usdt_price) / Decimal(
        _static(quote.code).usdt_price
    )
    return max(raw.quantize(_step(quote.precision)), _step(quote.precision))


def _symbols(currencies: dict[str, Currency]) -> list[tuple[Currency, Currency]]:
    """DEFAULT_SYMBOLS whose two currencies are both in the catalogue."""
    return [
        (currencies[b], currencies[q])
        for b, q in DEFAULT_SYMBOLS
        if b in currencies and q in currencies
    ]


def _market(quote: str) -> str:
    if quote in STABLECOINS:
        return "USDS"
    return "BTC" if quote == "BTC" else "ALTS"


def _marginable(base: Currency, quote: Currency) -> bool:
    return quote.code in MARGIN_QUOTES and base.code != quote.code


def _symbol_id(base: Currency, quote: Currency) -> str:
    return f"{base.code}-{quote.code}"


def usdt_price(code: str) -> Decimal:
    """The static USDT price the catalogue quotes for `code`."""
    return Decimal(_static(code).usdt_price)


def margin_pairs(currencies: dict[str, Currency]) -> list[tuple[str, str]]:
    """The (base, quote) codes of the isolated margin symbols."""
    return [(b.code, q.code) for b, q in _symbols(currencies) if _marginable(b, q)]


def spot_symbols(currencies: dict[str, Currency]) -> list[str]:
    return [_symbol_id(b, q) for b, q in _symbols(currencies)]


def contract_symbols(currencies: dict[str, Currency]) -> list[str]:
    """The futures symbols GET /api/v1/contracts/active lists."""
    return [
        f"{b.code}{q.code}M"
        for b, q in _symbols(currencies)
        if q.code == FUTURES_QUOTE and b.code not in STABLECOINS
    ]


# --- GET /api/ua/v1/account/mode ---------------------------------------------


def get_account_mode(_call: Call) -> dict[str, Any]:
    """kuledger has classic accounts only (never the unified trading account)."""
    return {"selfAccountMode": "CLASSIC"}


# --- GET /api/v3/currencies ----------------------------------------------------


def get_all_currencies(call: Call) -> list[dict[str, Any]]:
    currencies = call.services.reader.currencies()
    marginable = {
        c.code
        for base, quote in _symbols(currencies)
        if _marginable(base, quote)
        for c in (base, quote)
    }
    return [
        _currency_item(currencies[code], code in marginable)
        for code in sorted(currencies)
    ]


def _currency_item(currency: Currency, marginable: bool) -> dict[str, Any]:
    chain = chain_of(currency.code)
    step = to_wire(_step(currency.precision))
    return {
        "currency": currency.code,
        "name": currency.code,
        "fullName": currency.name,
        "precision": currency.precision,
        "confirms": 12,
        "contractAddress": "",
        "isMarginEnabled": marginable,
        "isDebitEnabled": marginable,
        "chains": [
            {
                "chainName": chain.name,
                "withdrawalMinSize": step,
                "depositMinSize": step,
                "withdrawFeeRate": "0",
                "withdrawalMinFee": to_wire(chain.withdrawal_fee),
                "isWithdrawEnabled": True,
                "isDepositEnabled": True,
                "confirms": 12,
                "preConfirms": 12,
                "contractAddress": "",
                "withdrawPrecision": currency.precision,
                "needTag": False,
                "chainId": chain.id,
                "maxWithdraw": NO_LIMIT,
                "maxDeposit": NO_LIMIT,
                "depositFeeRate": "0",
                "withdrawMaxFee": to_wire(chain.withdrawal_fee),  # flat: min = max
                "depositTierFee": "0",
            }
        ],
    }


CHAIN = obj(
    chainName=STRING,
    withdrawalMinSize=STRING,
    depositMinSize=STRING,
    withdrawFeeRate=STRING,
    withdrawalMinFee=STRING,
    isWithdrawEnabled=BOOLEAN,
    isDepositEnabled=BOOLEAN,
    confirms=INTEGER,
    preConfirms=INTEGER,
    contractAddress=STRING,
    withdrawPrecision=INTEGER,
    needTag=BOOLEAN,
    chainId=STRING,
    maxWithdraw=STRING,
    maxDeposit=STRING,
    depositFeeRate=STRING,
    withdrawMaxFee=STRING,
    depositTierFee=STRING,
)
CURRENCY = obj(
    currency=STRING,
    name=STRING,
    fullName=STRING,
    precision=INTEGER,
    confirms=INTEGER,
    contractAddress=STRING,
    isMarginEnabled=BOOLEAN,
    isDebitEnabled=BOOLEAN,
    chains=array(CHAIN),
)


# --- GET /api/v2/symbols -------------------------------------------------------


def get_all_symbols(call: Call) -> list[dict[str, Any]]:
    market = call.query.text("market")
    return [
        _symbol_item(base, quote)
        for base, quote in _symbols(call.services.reader.currencies())
        if market is None or _market(quote.code) == market
    ]


def _limits(base: Currency, quote: Currency) -> dict[str, Any]:
    """The size fields /api/v2/symbols and /api/v3/margin/symbols share."""
    quote_step = to_wire(_step(quote.precision))
    return {
        "symbol": _symbol_id(base, quote),
        "name": _symbol_id(base, quote),
        "baseCurrency": base.code,
        "quoteCurrency": quote.code,
        "feeCurrency": quote.code,
        "market": _market(quote.code),
        "baseMinSize": to_wire(_step(base.precision)),
        "quoteMinSize": quote_step,
        "baseMaxSize": "10000000000",
        "quoteMaxSize": "99999999",
        "baseIncrement": to_wire(_step(base.precision)),
        "quoteIncrement": quote_step,
        "priceIncrement": quote_step,
        "priceLimitRate": "0.1",
        "minFunds": quote_step,
        "enableTrading": True,
    }


def _symbol_item(base: Currency, quote: Currency) -> dict[str, Any]:
    return {
        **_limits(base, quote),
        "isMarginEnabled": _marginable(base, quote),
        "feeCategory": 1,
        "makerFeeCoefficient": "1.00",
        "takerFeeCoefficient": "1.00",
        "st": False,
        "callauctionIsEnabled": False,
        # No call auction: KuCoin answers null for these, but its file declares
        # a string or an integer, so they are "0" and 0.
        "callauctionPriceFloor": "0",
        "callauctionPriceCeiling": "0",
        "callauctionFirstStageStartTime": 0,
        "callauctionSecondStageStartTime": 0,
        "callauctionThirdStageStartTime": 0,
        "tradingStartTime": LISTED_AT_MS,
    }


_LIMIT_FIELDS: dict[str, dict[str, Any]] = {
    "symbol": STRING,
    "name": STRING,
    "baseCurrency": STRING,
    "quoteCurrency": STRING,
    "feeCurrency": STRING,
    "market": STRING,
    "baseMinSize": STRING,
    "quoteMinSize": STRING,
    "baseMaxSize": STRING,
    "quoteMaxSize": STRING,
    "baseIncrement": STRING,
    "quoteIncrement": STRING,
    "priceIncrement": STRING,
    "priceLimitRate": STRING,
    "minFunds": STRING,
    "enableTrading": BOOLEAN,
}
SYMBOL = obj(
    **_LIMIT_FIELDS,
    isMarginEnabled=BOOLEAN,
    feeCategory={"type": "integer", "enum": [1, 2, 3]},
    makerFeeCoefficient=STRING,
    takerFeeCoefficient=STRING,
    st=BOOLEAN,
    callauctionIsEnabled=BOOLEAN,
    callauctionPriceFloor=STRING,
    callauctionPriceCeiling=STRING,
    callauctionFirstStageStartTime=INTEGER,
    callauctionSecondStageStartTime=INTEGER,
    callauctionThirdStageStartTime=INTEGER,
    tradingStartTime=INTEGER,
)


# --- GET /api/v3/margin/symbols and /api/v1/isolated/symbols -------------------


def get_cross_margin_symbols(call: Call) -> dict[str, Any]:
    symbol = call.query.text("symbol")
    items = [
        _limits(base, quote)
        for base, quote in _symbols(call.services.reader.currencies())
        if _marginable(base, quote)
        and (symbol is None or _symbol_id(base, quote) == symbol)
    ]
    return {"timestamp": call.services.clock(), "items": items}


def get_isolated_margin_symbols(call: Call) -> list[dict[str, Any]]:
    return [
        {
            "symbol": _symbol_id(base, quote),
            "symbolName": _symbol_id(base, quote),
            "baseCurrency": base.code,
            "quoteCurrency": quote.code,
            "maxLeverage": 10,
            "flDebtRatio": "0.97",
            "tradeEnable": True,
            "autoRenewMaxDebtRatio": "0.96",
            "baseBorrowEnable": True,
            "quoteBorrowEnable": True,
            "baseTransferInEnable": True,
            "quoteTransferInEnable": True,
            "baseBorrowCoefficient": "1",
            "quoteBorrowCoefficient": "1",
        }
        for base, quote in _symbols(call.services.reader.currencies())
        if _marginable(base, quote)
    ]


ISOLATED_SYMBOL = obj(
    symbol=STRING,
    symbolName=STRING,
    baseCurrency=STRING,
    quoteCurrency=STRING,
    maxLeverage=INTEGER,
    flDebtRatio=STRING,
    tradeEnable=BOOLEAN,
    autoRenewMaxDebtRatio=STRING,
    baseBorrowEnable=BOOLEAN,
    quoteBorrowEnable=BOOLEAN,
    baseTransferInEnable=BOOLEAN,
    quoteTransferInEnable=BOOLEAN,
    baseBorrowCoefficient=STRING,
    quoteBorrowCoefficient=STRING,
)


# --- GET /api/v1/market/allTickers ---------------------------------------------


def get_all_tickers(call: Call) -> dict[str, Any]:
    tickers = []
    for base, quote in _symbols(call.services.reader.currencies()):
        last = _price(base, quote)
        ask = last + _step(quote.precision)
        tickers.append(
            {
                "symbol": _symbol_id(base, quote),
                "symbolName": _symbol_id(base, quote),
                "buy": to_wire(last),
                "bestBidSize": "1",
                "sell": to_wire(ask),
                "bestAskSize": "1",
                "changeRate": "0",
                "changePrice": "0",
                "high": to_wire(ask),
                "low": to_wire(last),
                "vol": "0",
                "volValue": "0",
                "last": to_wire(last),
                "averagePrice": to_wire(last),
                "takerFeeRate": TAKER_FEE,
                "makerFeeRate": MAKER_FEE,
                "takerCoefficient": "1",
                "makerCoefficient": "1",
            }
        )
    return {"time": call.services.clock(), "ticker": tickers}


_COEFFICIENT = {"type": "string", "enum": ["1", "0"]}
TICKER = obj(
    symbol=STRING,
    symbolName=STRING,
    buy=STRING,
    bestBidSize=STRING,
    sell=STRING,
    bestAskSize=STRING,
    changeRate=STRING,
    changePrice=STRING,
    high=STRING,
    low=STRING,
    vol=STRING,
    volValue=STRING,
    last=STRING,
    averagePrice=STRING,
    takerFeeRate=STRING,
    makerFeeRate=STRING,
    takerCoefficient=_COEFFICIENT,
    makerCoefficient=_COEFFICIENT,
)


# --- GET /api/v1/contracts/active ----------------------------------------------


def get_active_contracts(call: Call) -> list[dict[str, Any]]:
    """One USDT-margined linear perpetual per XXX-USDT symbol (stablecoins
    excepted), named as KuCoin names them: base + quote + "M"."""
    now = call.services.clock()
    next_funding = FUNDING_INTERVAL_MS - now % FUNDING_INTERVAL_MS
    return [
        _contract_item(base, quote, next_funding)
        for base, quote in _symbols(call.services.reader.currencies())
        if quote.code == FUTURES_QUOTE and base.code not in STABLECOINS
    ]


def _contract_item(
    base: Currency, quote: Currency, next_funding: int
) -> dict[str, Any]:
    b, q = base.code, quote.code
    price = float(_price(base, quote))
    tick = float(_step(quote.precision))
    return {
        "symbol": f"{b}{q}M",
        "rootSymbol": q,
        "type": "FFWCSX",
        "firstOpenDate": LISTED_AT_MS,
        # A perpetual never expires or settles: KuCoin answers null, but its
        # file declares integers, so 0 stands for "none" (ccxt tells a
        # perpetual by its nextFundingRateTime, not by these).
        "expireDate": 0,
        "settleDate": 0,
        "baseCurrency": b,
        "quoteCurrency": q,
        "settleCurrency": q,
        "maxOrderQty": 1_000_000,
        "maxPrice": 1_000_000.0,
        "lotSize": 1,
        "tickSize": tick,
        "indexPriceTickSize": tick,
        "multiplier": float(_static(b).multiplier),
        "initialMargin": 0.01,
        "maintainMargin": 0.005,
        "maxRiskLimit": 100_000,
        "minRiskLimit": 100_000,
        "riskStep": 50_000,
        "makerFeeRate": FUTURES_MAKER_FEE,
        "takerFeeRate": FUTURES_TAKER_FEE,
        "takerFixFee": 0.0,
        "makerFixFee": 0.0,
        "settlementFee": 0.0,
        "isDeleverage": True,
        "isQuanto": False,
        "isInverse": False,
        "markMethod": "FairPrice",
        "fairMethod": "FundingRate",
        "fundingBaseSymbol": f".{b}INT8H",
        "fundingQuoteSymbol": f".{q}INT8H",
        "fundingRateSymbol": f".{b}{q}MFPI8H",
        "indexSymbol": f".K{b}{q}",
        "settlementSymbol": "",
        "status": "Open",
        "fundingFeeRate": 0.0001,
        "predictedFundingFeeRate": 0.0001,
        "fundingRateGranularity": FUNDING_INTERVAL_MS,
        "openInterest": "0",
        "turnoverOf24h": 0.0,
        "volumeOf24h": 0.0,
        "markPrice": price,
        "indexPrice": price,
        "lastTradePrice": price,
        "nextFundingRateTime": next_funding,
        "maxLeverage": 75,
        "sourceExchanges": ["kucoin"],
        "premiumsSymbol1M": f".{b}{q}MPI",
        "premiumsSymbol8H": f".{b}{q}MPI8H",
        "fundingBaseSymbol1M": f".{b}INT",
        "fundingQuoteSymbol1M": f".{q}INT",
        "lowPrice": price,
        "highPrice": price,
        "priceChgPct": 0.0,
        "priceChg": 0.0,
        "k": 490.0,
        "m": 300.0,
        "f": 1.3,
        "mmrLimit": 0.3,
        "mmrLevConstant": 75.0,
        "supportCross": True,
        "buyLimit": round(price * 1.05, 8),
        "sellLimit": round(price * 0.95, 8),
    }


CONTRACT = obj(
    symbol=STRING,
    rootSymbol=STRING,
    type={"type": "string", "enum": ["FFWCSX", "FFICSX"]},
    firstOpenDate=INTEGER,
    expireDate=INTEGER,
    settleDate=INTEGER,
    baseCurrency=STRING,
    quoteCurrency=STRING,
    settleCurrency=STRING,
    maxOrderQty=INTEGER,
    maxPrice=NUMBER,
    lotSize=INTEGER,
    tickSize=NUMBER,
    indexPriceTickSize=NUMBER,
    multiplier=NUMBER,
    initialMargin=NUMBER,
    maintainMargin=NUMBER,
    maxRiskLimit=INTEGER,
    minRiskLimit=INTEGER,
    riskStep=INTEGER,
    makerFeeRate=NUMBER,
    takerFeeRate=NUMBER,
    takerFixFee=NUMBER,
    makerFixFee=NUMBER,
    settlementFee=NUMBER,
    isDeleverage=BOOLEAN,
    isQuanto=BOOLEAN,
    isInverse=BOOLEAN,
    markMethod={"type": "string", "enum": ["FairPrice"]},
    fairMethod={"type": "string", "enum": ["FundingRate"]},
    fundingBaseSymbol=STRING,
    fundingQuoteSymbol=STRING,
    fundingRateSymbol=STRING,
    indexSymbol=STRING,
    settlementSymbol=STRING,
    status={"type": "string", "enum": ["Open"]},
    fundingFeeRate=NUMBER,
    predictedFundingFeeRate=NUMBER,
    fundingRateGranularity=INTEGER,
    openInterest=STRING,
    turnoverOf24h=NUMBER,
    volumeOf24h=NUMBER,
    markPrice=NUMBER,
    indexPrice=NUMBER,
    lastTradePrice=NUMBER,
    nextFundingRateTime=INTEGER,
    maxLeverage=INTEGER,
    sourceExchanges=array(STRING),
    premiumsSymbol1M=STRING,
    premiumsSymbol8H=STRING,
    fundingBaseSymbol1M=STRING,
    fundingQuoteSymbol1M=STRING,
    lowPrice=NUMBER,
    highPrice=NUMBER,
    priceChgPct=NUMBER,
    priceChg=NUMBER,
    k=NUMBER,
    m=NUMBER,
    f=NUMBER,
    mmrLimit=NUMBER,
    mmrLevConstant=NUMBER,
    supportCross=BOOLEAN,
    buyLimit=NUMBER,
    sellLimit=NUMBER,
)


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/ua/v1/account/mode",
        get_account_mode,
        "Get Account Mode",
        # Not in KuCoin's bundled OpenAPI files; weight as ccxt charges it
        # (cost 60 = 2 x weight in the 2000/30 s pools).
        pool="Management",
        weight=30,
        kucoin_doc="https://www.kucoin.com/docs-new/rest/ua/get-account-mode",
        response=obj(
            selfAccountMode={"type": "string", "enum": ["CLASSIC", "UNIFIED"]}
        ),
    ),
    Endpoint(
        "GET",
        "/api/v3/currencies",
        get_all_currencies,
        "Get All Currencies",
        permission=None,
        pool="Public",
        weight=3,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470152",
        response=array(CURRENCY),
    ),
    Endpoint(
        "GET",
        "/api/v2/symbols",
        get_all_symbols,
        "Get All Symbols",
        permission=None,
        pool="Public",
        weight=4,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470154",
        params=(query("market", STRING, "trading market: USDS, BTC or ALTS"),),
        response=array(SYMBOL),
    ),
    Endpoint(
        "GET",
        "/api/v3/margin/symbols",
        get_cross_margin_symbols,
        "Get Symbols - Cross Margin",
        permission=None,  # public on KuCoin; ccxt signs it anyway, which is fine
        pool="Public",
        weight=3,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470189",
        params=(query("symbol", STRING, "only this symbol, e.g. BTC-USDT"),),
        response=obj(timestamp=INTEGER, items=array(obj(**_LIMIT_FIELDS))),
    ),
    Endpoint(
        "GET",
        "/api/v1/isolated/symbols",
        get_isolated_margin_symbols,
        "Get Symbols - Isolated Margin",
        permission=None,  # public on KuCoin; ccxt signs it anyway, which is fine
        pool="Public",
        weight=3,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470194",
        response=array(ISOLATED_SYMBOL),
    ),
    Endpoint(
        "GET",
        "/api/v1/market/allTickers",
        get_all_tickers,
        "Get All Tickers",
        permission=None,
        pool="Public",
        weight=15,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470167",
        response=obj(time=INTEGER, ticker=array(TICKER)),
    ),
    Endpoint(
        "GET",
        "/api/v1/contracts/active",
        get_active_contracts,
        "Get All Symbols - Futures",
        permission=None,
        pool="Public",
        weight=3,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470220",
        response=array(CONTRACT),
    ),
)


def static_price(base: Currency, quote: Currency) -> Decimal:
    """The static price of `base` in `quote` that the tickers show (used to
    value balances in another currency)."""
    return _price(base, quote)
