"""The pure rules of services/fees.py and services/account_info.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kuledger.domain.accounts import Account, AccountKey, AccountType
from kuledger.domain.errors import InvalidInput
from kuledger.domain.subaccounts import SubAccount
from kuledger.domain.users import User
from kuledger.services.account_info import (
    account_summary,
    balances,
    isolated_positions,
)
from kuledger.services.fees import (
    ALL_SYMBOLS,
    DEFAULTS,
    FeeRate,
    FeeRow,
    Market,
    base_rate,
    parse_rate,
    symbol_rates,
)


class FakeFeeStore:
    def __init__(self, *rows: FeeRow) -> None:
        self._rows = list(rows)

    def rows(self, uid: str, market: Market) -> list[FeeRow]:
        return [r for r in self._rows if (r.uid, r.market) == (uid, market)]

    def put(self, row: FeeRow) -> None:
        self._rows.append(row)

    def delete(self, uid: str, market: Market, symbol: str) -> bool:
        return False


def _rate(maker: str, taker: str) -> FeeRate:
    return FeeRate(Decimal(maker), Decimal(taker))


@pytest.mark.parametrize("text", ["0", "0.001", "-0.01", "0.1", "0.00000001"])
def test_parse_rate_takes_plain_decimals_within_bounds(text):
    assert parse_rate(text, "makerFeeRate") == Decimal(text)


@pytest.mark.parametrize(
    "value", ["0.10000001", "-0.011", "1e-3", "0.000000001", " 0.1", "", 0.001, 1]
)
def test_parse_rate_refuses_anything_else(value):
    with pytest.raises(InvalidInput, match="makerFeeRate"):
        parse_rate(value, "makerFeeRate")


def test_a_symbols_rate_wins_over_the_markets_which_wins_over_the_default():
    store = FakeFeeStore(
        FeeRow("u", Market.SPOT, ALL_SYMBOLS, _rate("0.0005", "0.0007"), 1),
        FeeRow("u", Market.SPOT, "ETH-USDT", _rate("0", "0.0001"), 1),
        FeeRow("other", Market.SPOT, "BTC-USDT", _rate("0.09", "0.09"), 1),
    )
    got = symbol_rates(store, "u", Market.SPOT, ["BTC-USDT", "ETH-USDT"])
    assert got == {
        "BTC-USDT": _rate("0.0005", "0.0007"),
        "ETH-USDT": _rate("0", "0.0001"),
    }
    assert base_rate(store, "u", Market.FUTURES) == DEFAULTS[Market.FUTURES]
    assert base_rate(store, "other", Market.SPOT) == DEFAULTS[Market.SPOT]
    assert symbol_rates(None, "u", Market.SPOT, ["X"]) == {"X": DEFAULTS[Market.SPOT]}


def test_summary_counts_subs_whose_trade_types_or_live_keys_allow_margin_or_futures():
    def sub(uid: str, access: str = "Spot", **flags: bool) -> SubAccount:
        return SubAccount(uid, "m", uid, access=access, **flags)

    subs = [
        (sub("a"), frozenset({"General", "Margin"})),
        (sub("b"), frozenset({"Futures", "Margin"})),
        (sub("c"), frozenset()),
        (sub("d", futures=True), frozenset()),
        (sub("e", access="Margin"), frozenset({"General"})),
    ]
    s = account_summary(User("m", vip_level=4), subs)
    assert (s.level, s.subs, s.margin_subs, s.futures_subs) == (4, 5, 3, 2)
    assert s.max_subs == 5
    many = [(sub(str(i)), frozenset[str]()) for i in range(7)]
    assert account_summary(User("m"), many).max_subs == 7


def test_balances_sum_the_chosen_types_per_currency():
    def account(type_: AccountType, currency: str, available: str, holds: str):
        a, h = Decimal(available), Decimal(holds)
        key = AccountKey("u", type_, currency)
        return Account("id", key, balance=a + h, available=a, holds=h)

    rows = balances(
        [
            account(AccountType.MARGIN, "USDT", "1", "2"),
            account(AccountType.MARGIN_V2, "USDT", "3", "0"),
            account(AccountType.MAIN, "USDT", "100", "0"),
            account(AccountType.MARGIN, "BTC", "0.5", "0"),
        ],
        (AccountType.MARGIN, AccountType.MARGIN_V2),
    )
    assert [(b.currency, b.total, b.available, b.hold) for b in rows] == [
        ("BTC", Decimal("0.5"), Decimal("0.5"), Decimal(0)),
        ("USDT", Decimal(6), Decimal(4), Decimal(2)),
    ]


PAIRS = [("BTC", "USDT"), ("ETH", "USDT"), ("ETH", "BTC"), ("KCS", "USDT")]


def test_isolated_positions_show_each_currency_once():
    assert isolated_positions({"BTC", "USDT", "ETH"}, PAIRS) == [
        (("BTC", "USDT"), True, True),
        (("ETH", "USDT"), True, False),
    ]
    # USDT alone goes to the first symbol it quotes; BTC, a base, to BTC-USDT.
    assert isolated_positions({"USDT"}, PAIRS) == [(("BTC", "USDT"), False, True)]
    assert isolated_positions({"KCS", "USDT"}, PAIRS) == [(("KCS", "USDT"), True, True)]
    assert isolated_positions({"EUR"}, PAIRS) == []
