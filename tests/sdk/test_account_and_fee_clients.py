"""The official SDK's Account service (`account` and `fee` API classes, every
method) and ccxt's fetchBalance, fetchLedger and fetchTradingFee against a
running `kuledger serve` on both engines, each answer checked against the
ledger (`kuledger accounts --json`) and the rates the operator set."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from kucoin_universal_sdk.api.client import DefaultClient
from kucoin_universal_sdk.generate.account.account import (
    GetCrossMarginAccountReq,
    GetCrossMarginAccountReqBuilder,
    GetFuturesAccountReqBuilder,
    GetFuturesLedgerReqBuilder,
    GetIsolatedMarginAccountDetailV1ReqBuilder,
    GetIsolatedMarginAccountListV1Req,
    GetIsolatedMarginAccountListV1ReqBuilder,
    GetIsolatedMarginAccountReq,
    GetIsolatedMarginAccountReqBuilder,
    GetMarginHfLedgerReqBuilder,
    GetSpotAccountDetailReqBuilder,
    GetSpotAccountListReqBuilder,
    GetSpotHfLedgerReqBuilder,
    GetSpotLedgerReqBuilder,
)
from kucoin_universal_sdk.generate.account.fee import (
    GetBasicFeeReqBuilder,
    GetFuturesActualFeeReqBuilder,
    GetSpotActualFeeReqBuilder,
)
from kucoin_universal_sdk.model.client_option import ClientOptionBuilder
from kucoin_universal_sdk.model.transport_option import TransportOptionBuilder

from tests.e2e.test_real_clients import CCXT_APIS
from tests.support.server import ApiUser, LiveServer

pytestmark = pytest.mark.slow

PERMISSIONS = "General,Spot,Margin,Futures"


@dataclass(frozen=True)
class World:
    server: LiveServer
    master: ApiUser
    subs: list[str]

    def accounts(self, uid: str | None = None) -> list[dict[str, str]]:
        """The ledger's accounts of the user, as the CLI reads them."""
        found: list[dict[str, str]] = self.server.cli.json(
            "accounts", "--uid", uid or self.master.uid, "--json"
        )
        return found

    def balance(self, type_: str, currency: str) -> dict[str, str]:
        zero = {"balance": "0", "available": "0", "holds": "0"}
        for a in self.accounts():
            if (a["type"], a["currency"]) == (type_, currency):
                return a
        return zero


@pytest.fixture(scope="module")
def world(module_server: LiveServer) -> World:
    """A VIP 2 master with two sub-accounts (one may trade margin, one
    futures), money in every account type these endpoints show, and fee rates
    the operator set."""
    base = str(random.randrange(10**9, 10**10))  # KuCoin uids are integers
    uid = base + "0"
    master = module_server.add_user(uid, permissions=PERMISSIONS, vip=2)
    module_server.add_user(base + "1", parent=uid, permissions="General,Margin")
    module_server.add_user(base + "2", parent=uid, permissions="General,Futures")
    n = iter(range(1, 100))

    def op(kind: str, **fields: Any) -> dict[str, Any]:
        return {"op": kind, "uid": uid, "id": f"w{next(n)}", **fields}

    now = int(time.time() * 1000)
    usdt = {"currency": "USDT"}
    trade = {"symbol": "BTC-USDT", "side": "buy", "price": "20000", "size": "0.01"}
    module_server.cli.post(
        [
            op("deposit", amount="5000", **usdt, at=now - 5000),
            op("transfer", amount="1000", **{"from": "main", "to": "trade"}, **usdt),
            op("trade", account="trade", order_id="o1", trade_id="t1", **trade),
            op("transfer", amount="300", **{"from": "main", "to": "margin"}, **usdt),
            op("deposit", account="margin", amount="0.25", currency="BTC"),
            op("deposit", account="margin_v2", amount="40", **usdt),
            op("deposit", account="isolated", amount="0.5", currency="BTC"),
            op("deposit", account="isolated", amount="75", **usdt),
            op("deposit", account="isolated_v2", amount="2", currency="ETH"),
            op("transfer", amount="250", **{"from": "main", "to": "contract"}, **usdt),
            op("deposit", account="trade_hf", amount="12", **usdt),
        ]
    )
    cli = module_server.cli
    cli.run("fees", "set", uid, "--maker", "0.0008", "--taker", "0.00085")
    cli.run("fees", "set", uid, "--symbol", "ETH-USDT", "--maker", "-0.0001",
            "--taker", "0.0005")  # fmt: skip
    cli.run("fees", "set", uid, "--market", "futures", "--symbol", "BTCUSDTM",
            "--maker", "0.0001", "--taker", "0.0004")  # fmt: skip
    return World(module_server, master, [base + "1", base + "2"])


# --- kucoin-universal-sdk: the account API ----------------------------------


@pytest.fixture(scope="module")
def service(world: World) -> Iterator[Any]:
    base = world.server.base_url
    option = (
        ClientOptionBuilder()
        .set_key(world.master.key)
        .set_secret(world.master.secret)
        .set_passphrase(world.master.passphrase)
        .set_spot_endpoint(base)
        .set_futures_endpoint(base)
        .set_broker_endpoint(base)
        .set_transport_option(TransportOptionBuilder().build())
        .build()
    )
    account = DefaultClient(option).rest_service().get_account_service()
    yield account
    account.get_account_api().transport.close()


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def test_account_info_counts_the_sub_accounts_and_their_permissions(world, service):
    info = service.get_account_api().get_account_info()
    assert (info.level, info.sub_quantity, info.spot_sub_quantity) == (2, 2, 2)
    assert (info.margin_sub_quantity, info.futures_sub_quantity) == (1, 1)
    assert (info.option_sub_quantity, info.max_sub_quantity) == (0, 5)


def test_apikey_info_describes_the_calling_key(world, service):
    info = service.get_account_api().get_apikey_info()
    assert info.api_key == world.master.key
    assert info.uid == int(world.master.uid)
    assert info.is_master is True
    assert info.permission == PERMISSIONS
    assert info.api_version == 3


def test_spot_account_methods_equal_the_ledger(world, service):
    api = service.get_account_api()
    assert api.get_spot_account_type().data is False
    listed = api.get_spot_account_list(GetSpotAccountListReqBuilder().build())

    # Its model knows only main and trade: the raw list holds every type.
    def key(a: dict[str, str]) -> str:
        return a["id"]

    raw = sorted(listed.common_response.data, key=key)
    assert raw == sorted(world.accounts(), key=key)
    main = world.balance("main", "USDT")
    req = GetSpotAccountDetailReqBuilder().set_account_id(main["id"]).build()
    detail = api.get_spot_account_detail(req)
    assert (detail.balance, detail.available) == (main["balance"], main["available"])


def test_cross_margin_sums_margin_and_margin_v2_on_all(world, service):
    api = service.get_account_api()
    classic = api.get_cross_margin_account(GetCrossMarginAccountReqBuilder().build())
    rows = {a.currency: a for a in classic.accounts}
    assert set(rows) == {"USDT", "BTC"}
    assert rows["USDT"].total == world.balance("margin", "USDT")["balance"] == "300"
    assert rows["BTC"].total == "0.25"
    assert _d(classic.total_asset_of_quote_currency) == 300 + Decimal("0.25") * 60000
    every = api.get_cross_margin_account(
        GetCrossMarginAccountReqBuilder()
        .set_query_type(GetCrossMarginAccountReq.QueryTypeEnum.ALL)
        .set_quote_currency(GetCrossMarginAccountReq.QuoteCurrencyEnum.BTC)
        .build()
    )
    assert {a.currency: a.total for a in every.accounts}["USDT"] == "340"
    assert _d(every.total_asset_of_quote_currency) == (
        (Decimal(340) + Decimal("0.25") * 60000) / 60000
    ).quantize(Decimal("0.00000001"))
    assert every.total_liability_of_quote_currency == "0"


def test_isolated_margin_shows_each_symbol_of_the_held_currencies(world, service):
    api = service.get_account_api()
    req = GetIsolatedMarginAccountReqBuilder().set_symbol("BTC-USDT").build()
    [position] = api.get_isolated_margin_account(req).assets
    assert (position.base_asset.total, position.quote_asset.total) == ("0.5", "75")
    both = api.get_isolated_margin_account(
        GetIsolatedMarginAccountReqBuilder()
        .set_query_type(GetIsolatedMarginAccountReq.QueryTypeEnum.ALL)
        .build()
    )
    assert _d(both.total_asset_of_quote_currency) == 75 + 30000 + 2 * 3000
    assert "ETH-USDT" in {a.symbol for a in both.assets}
    v1 = api.get_isolated_margin_account_list_v1(
        GetIsolatedMarginAccountListV1ReqBuilder()
        .set_balance_currency(
            GetIsolatedMarginAccountListV1Req.BalanceCurrencyEnum.USDT
        )
        .build()
    )
    assert _d(v1.total_conversion_balance) == 75 + 30000  # isolated only
    detail = api.get_isolated_margin_account_detail_v1(
        GetIsolatedMarginAccountDetailV1ReqBuilder().set_symbol("BTC-USDT").build()
    )
    assert (detail.base_asset.total_balance, detail.status.value) == ("0.5", "CLEAR")


def test_margin_account_detail_v1_is_the_margin_account(world, service):
    detail = service.get_account_api().get_margin_account_detail()
    rows = {a.currency: a.total_balance for a in detail.accounts}
    assert rows == {"BTC": "0.25", "USDT": "300"}


def test_futures_account_and_ledger_equal_the_contract_account(world, service):
    api = service.get_account_api()
    contract = world.balance("contract", "USDT")
    overview = api.get_futures_account(
        GetFuturesAccountReqBuilder().set_currency("USDT").build()
    )
    assert _d(overview.account_equity) == Decimal(contract["balance"]) == 250
    assert _d(overview.available_balance) == Decimal(contract["available"])
    ledger = api.get_futures_ledger(
        GetFuturesLedgerReqBuilder().set_currency("USDT").build()
    )
    assert [_d(e.account_equity) for e in ledger.data_list] == [250]


def test_ledger_methods_answer_the_users_entries(world, service):
    api = service.get_account_api()
    spot = api.get_spot_ledger(GetSpotLedgerReqBuilder().set_currency("USDT").build())
    assert spot.total_num >= 5
    hf = api.get_spot_hf_ledger(GetSpotHfLedgerReqBuilder().build())
    assert [e.amount for e in hf.data] == ["12"]
    margin = api.get_margin_hf_ledger(GetMarginHfLedgerReqBuilder().build())
    assert {e.amount for e in margin.data} == {"40", "2"}


# --- kucoin-universal-sdk: the fee API ---------------------------------------


def test_fee_methods_answer_the_rates_the_operator_set(world, service):
    fee = service.get_fee_api()
    basic = fee.get_basic_fee(GetBasicFeeReqBuilder().build())
    assert (basic.maker_fee_rate, basic.taker_fee_rate) == ("0.0008", "0.00085")
    spot = fee.get_spot_actual_fee(
        GetSpotActualFeeReqBuilder().set_symbols("BTC-USDT,ETH-USDT").build()
    )
    rates = {r.symbol: (r.maker_fee_rate, r.taker_fee_rate) for r in spot.data}
    assert rates == {
        "BTC-USDT": ("0.0008", "0.00085"),
        "ETH-USDT": ("-0.0001", "0.0005"),
    }
    futures = fee.get_futures_actual_fee(
        GetFuturesActualFeeReqBuilder().set_symbol("BTCUSDTM").build()
    )
    assert (futures.maker_fee_rate, futures.taker_fee_rate) == ("0.0001", "0.0004")
    other = fee.get_futures_actual_fee(
        GetFuturesActualFeeReqBuilder().set_symbol("ETHUSDTM").build()
    )
    assert (other.maker_fee_rate, other.taker_fee_rate) == ("0.0002", "0.0006")


# --- ccxt ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def kucoin(world: World) -> Iterator[Any]:
    exchange = ccxt.kucoin(
        {
            "apiKey": world.master.key,
            "secret": world.master.secret,
            "password": world.master.passphrase,
            "urls": {"api": dict.fromkeys(CCXT_APIS, world.server.base_url)},
        }
    )
    yield exchange
    exchange.session.close()


@pytest.mark.parametrize(
    ("params", "type_"),
    [
        ({}, "trade"),
        ({"type": "main"}, "main"),
        ({"marginMode": "cross"}, "margin"),
        ({"type": "contract", "code": "USDT"}, "contract"),
    ],
)
def test_ccxt_fetch_balance_equals_the_ledger(world, kucoin, params, type_):
    balance = kucoin.fetch_balance(params)
    want = [a for a in world.accounts() if a["type"] == type_]
    assert want
    for a in want:
        assert balance[a["currency"]]["total"] == float(a["balance"]), a
        assert balance[a["currency"]]["free"] == float(a["available"]), a


def test_ccxt_fetch_balance_isolated_shows_each_symbols_currencies(world, kucoin):
    balance = kucoin.fetch_balance({"marginMode": "isolated"})
    isolated = {a["currency"]: a for a in world.accounts() if a["type"] == "isolated"}
    assert set(isolated) == {"BTC", "USDT"}
    for code, account in isolated.items():  # each once, though USDT quotes many
        assert balance[code]["total"] == float(account["balance"])
        assert balance[code]["free"] == float(account["available"])


def test_ccxt_fetch_ledger_lists_the_ledgers_entries(world, kucoin):
    entries = kucoin.fetch_ledger("USDT")
    amounts = sorted(e["amount"] for e in entries)
    assert 5000.0 in amounts and 1000.0 in amounts
    assert all(e["currency"] == "USDT" for e in entries)


def test_ccxt_fetch_trading_fee_is_the_operators_rate(world, kucoin):
    fee = kucoin.fetch_trading_fee("ETH/USDT")
    assert (fee["maker"], fee["taker"]) == (-0.0001, 0.0005)
    fee = kucoin.fetch_trading_fee("BTC/USDT:USDT")
    assert (fee["maker"], fee["taker"]) == (0.0001, 0.0004)


def test_ccxt_has_no_fetch_trading_fees_for_kucoin(kucoin):
    """ccxt 4.5.90 declares fetchTradingFees False for kucoin: it raises
    before any request, so there is no route for it to reach."""
    assert kucoin.has["fetchTradingFees"] is False
    with pytest.raises(ccxt.NotSupported):
        kucoin.fetch_trading_fees()
