"""Planning a trade fill: the legs, who pays the fee, and rounding of funds."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kuledger.domain.accounts import AccountType
from kuledger.domain.currencies import DEFAULT_CURRENCIES
from kuledger.domain.entries import Direction
from kuledger.domain.errors import InvalidInput
from kuledger.domain.operations import Plan, Trade, parse_operation

CURRENCIES = {c.code: c for c in DEFAULT_CURRENCIES}


def _trade(**fields: object) -> Trade:
    payload = {
        "op": "trade",
        "uid": "u1",
        "id": "x1",
        "symbol": "ETH-USDT",
        "side": "buy",
        "price": "3000",
        "size": "0.5",
        "order_id": "o1",
        "trade_id": "t1",
        **fields,
    }
    trade = parse_operation(payload, CURRENCIES)
    assert isinstance(trade, Trade)
    return trade


def _legs(plan: Plan) -> dict[str, tuple[str, Decimal, Decimal]]:
    """currency -> (direction, amount, fee) of each leg."""
    legs = {p.key.currency: (p.direction.value, p.amount, p.fee) for p in plan.postings}
    assert len(legs) == len(plan.postings)
    return legs


def test_a_buy_with_the_fee_in_the_quote_pays_funds_plus_fee():
    plan = _trade(fee="1.5").plan()
    assert _legs(plan) == {
        "USDT": ("out", Decimal("1501.5"), Decimal("1.5")),
        "ETH": ("in", Decimal("0.5"), Decimal(0)),
    }


def test_a_sell_with_the_fee_in_the_quote_receives_funds_minus_fee():
    plan = _trade(side="sell", fee="1.5").plan()
    assert _legs(plan) == {
        "ETH": ("out", Decimal("0.5"), Decimal(0)),
        "USDT": ("in", Decimal("1498.5"), Decimal("1.5")),
    }


def test_a_buy_with_the_fee_in_the_base_receives_size_minus_fee():
    plan = _trade(fee="0.0005", fee_currency="ETH").plan()
    assert _legs(plan) == {
        "USDT": ("out", Decimal("1500"), Decimal(0)),
        "ETH": ("in", Decimal("0.4995"), Decimal("0.0005")),
    }


def test_a_sell_with_the_fee_in_the_base_pays_size_plus_fee():
    plan = _trade(side="sell", fee="0.0005", fee_currency="ETH").plan()
    assert _legs(plan) == {
        "ETH": ("out", Decimal("0.5005"), Decimal("0.0005")),
        "USDT": ("in", Decimal("1500"), Decimal(0)),
    }


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_fee_in_a_third_currency_adds_a_third_leg(side):
    plan = _trade(side=side, fee="0.12", fee_currency="KCS").plan()
    legs = _legs(plan)
    assert legs["KCS"] == ("out", Decimal("0.12"), Decimal("0.12"))
    assert legs["USDT"][1:] == (Decimal(1500), Decimal(0))
    assert legs["ETH"][1:] == (Decimal("0.5"), Decimal(0))


def test_a_zero_fee_in_a_third_currency_writes_no_third_leg():
    plan = _trade(fee="0", fee_currency="KCS").plan()
    assert set(_legs(plan)) == {"USDT", "ETH"}
    assert {k.currency for k in plan.keys} == {"USDT", "ETH"}


def test_debits_come_before_credits():
    for side in ("buy", "sell"):
        plan = _trade(side=side, fee="0.1", fee_currency="KCS").plan()
        directions = [p.direction for p in plan.postings]
        assert directions == sorted(directions, key=lambda d: d is Direction.IN)


def test_every_leg_names_the_fill_in_its_context_and_uses_the_trade_code():
    plan = _trade(fee="0.1", fee_currency="KCS", account="trade_hf").plan()
    for posting in plan.postings:
        assert json.loads(posting.context) == {
            "symbol": "ETH-USDT",
            "orderId": "o1",
            "tradeId": "t1",
        }
        assert posting.biz.code == "TRADE_EXCHANGE"
        assert posting.key.type is AccountType.TRADE_HF
        assert posting.key.uid == "u1"


def test_the_fill_context_is_compact_ascii_json_whatever_the_ids():
    plan = _trade(order_id='o"\\é\n', trade_id="t\u2028").plan()
    expected = {"symbol": "ETH-USDT", "orderId": 'o"\\é\n', "tradeId": "t\u2028"}
    for posting in plan.postings:
        assert posting.context == json.dumps(expected, separators=(",", ":"))


def test_a_margin_trade_uses_the_margin_exchange_code():
    for account in ("margin", "margin_v2"):
        plan = _trade(account=account).plan()
        assert {p.biz.code for p in plan.postings} == {"MARGIN_EXCHANGE"}


def test_buying_rounds_funds_up_and_selling_rounds_them_down():
    buy = _legs(_trade(price="0.333333333", size="1").plan())
    sell = _legs(_trade(side="sell", price="0.333333333", size="1").plan())
    assert buy["USDT"][1] == Decimal("0.33333334")
    assert sell["USDT"][1] == Decimal("0.33333333")


def test_a_sell_whose_funds_round_to_zero_is_rejected():
    with pytest.raises(InvalidInput) as info:
        _trade(side="sell", price="0.000000001", size="1").plan()
    assert info.value.field == "size"


def test_a_buy_never_rounds_to_zero():
    legs = _legs(_trade(price="0.000000001", size="0.00000001").plan())
    assert legs["USDT"][1] == Decimal("0.00000001")


@pytest.mark.parametrize(
    ("side", "fee", "fee_currency"),
    [("sell", "1500", "USDT"), ("sell", "1600", "USDT"), ("buy", "0.5", "ETH")],
)
def test_a_fee_as_large_as_the_incoming_amount_is_rejected(side, fee, fee_currency):
    with pytest.raises(InvalidInput) as info:
        _trade(side=side, fee=fee, fee_currency=fee_currency).plan()
    assert info.value.field == "fee"


def test_a_fee_larger_than_the_outgoing_amount_is_allowed():
    legs = _legs(_trade(fee="2000").plan())
    assert legs["USDT"][:2] == ("out", Decimal(3500))


def _decimal(places: int) -> st.SearchStrategy[str]:
    """Positive plain decimal strings with up to 12 integer and `places` decimals."""
    return st.builds(
        lambda whole, fraction: f"{whole}.{fraction}" if fraction else str(whole),
        st.integers(0, 10**12),
        st.text("0123456789", max_size=places),
    ).filter(lambda text: Decimal(text) > 0)


@example(
    side="buy", price="10000000000.000000000000000001", size="0.00000001", quote="USDT"
)
@example(side="sell", price="1000000000000.01", size="1000000000000.01", quote="USDT")
@given(
    side=st.sampled_from(["buy", "sell"]),
    price=_decimal(18),
    size=_decimal(8),
    quote=st.sampled_from(["USDT", "XRP"]),
)
def test_funds_are_price_times_size_rounded_against_the_user(side, price, size, quote):
    exact = Fraction(Decimal(price)) * Fraction(Decimal(size))
    step = Fraction(1, 10 ** CURRENCIES[quote].precision)
    units = math.ceil(exact / step) if side == "buy" else math.floor(exact / step)
    fields = {"side": side, "price": price, "size": size, "symbol": f"BTC-{quote}"}
    if units == 0:
        with pytest.raises(InvalidInput):
            _trade(**fields).plan()
        return
    legs = _legs(_trade(**fields).plan())
    assert Fraction(legs[quote][1]) == units * step
    assert legs["BTC"][1] == Decimal(size)
