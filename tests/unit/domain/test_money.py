"""parse_amount and to_wire: the only way amounts enter and leave the ledger."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kuledger.domain.accounts import Account, AccountKey, AccountType
from kuledger.domain.errors import InvalidAmount
from kuledger.domain.money import MONEY, Currency, parse_amount, to_wire

USDT = Currency("USDT", 8, "Tether")
XRP = Currency("XRP", 6, "XRP")


def test_a_plain_decimal_string_is_parsed_exactly():
    assert parse_amount("100.5", USDT) == Decimal("100.5")
    assert parse_amount("0.00000001", USDT) == Decimal("0.00000001")


def test_an_integer_is_accepted_as_its_decimal_value():
    assert parse_amount(5, USDT) == Decimal(5)


@pytest.mark.parametrize("value", ["1e5", "1E5", "1e-5", "1.5e2", "0x10"])
def test_an_exponent_or_other_notation_is_rejected(value):
    with pytest.raises(InvalidAmount, match="plain positive decimal"):
        parse_amount(value, USDT)


@pytest.mark.parametrize(
    "value", ["NaN", "nan", "sNaN", "Infinity", "inf", "-Infinity", "Inf"]
)
def test_nan_and_infinity_are_rejected(value):
    with pytest.raises(InvalidAmount):
        parse_amount(value, USDT)


@pytest.mark.parametrize("value", ["-1", "+1", "-0", "-0.5", -1, -5])
def test_a_sign_or_a_negative_number_is_rejected(value):
    with pytest.raises(InvalidAmount):
        parse_amount(value, USDT)


@pytest.mark.parametrize("value", [1.5, 0.1, 1.0, float("nan"), float("inf")])
def test_floats_are_rejected_because_they_are_not_exact(value):
    with pytest.raises(InvalidAmount):
        parse_amount(value, USDT)


@pytest.mark.parametrize(
    "value",
    [True, None, [1], {"a": 1}, b"1", Decimal("1"), "", " 1", "1 ", "1.", ".5"],
)
def test_anything_but_a_digit_string_or_an_int_is_rejected(value):
    with pytest.raises(InvalidAmount):
        parse_amount(value, USDT)


@pytest.mark.parametrize("value", ["1,5", "1_000", "1 000", "1..2", "1.2.3"])
def test_separators_are_rejected(value):
    with pytest.raises(InvalidAmount):
        parse_amount(value, USDT)


@pytest.mark.parametrize("value", ["١٠٠", "１００", "1٠"])
def test_non_ascii_digits_are_rejected(value):
    with pytest.raises(InvalidAmount):
        parse_amount(value, USDT)


def test_trailing_zeros_beyond_the_precision_are_accepted():
    assert parse_amount("1.000000000000", USDT) == Decimal(1)
    assert parse_amount("0.123456780000", USDT) == Decimal("0.12345678")


def test_more_decimals_than_the_currency_allows_are_rejected():
    with pytest.raises(InvalidAmount, match="more than 8 decimals"):
        parse_amount("1.123456789", USDT)
    with pytest.raises(InvalidAmount, match="more than 6 decimals"):
        parse_amount("1.1234567", XRP)
    assert parse_amount("1.123456", XRP) == Decimal("1.123456")


def test_zero_is_rejected_unless_allowed():
    with pytest.raises(InvalidAmount, match="greater than zero"):
        parse_amount("0", USDT)
    with pytest.raises(InvalidAmount):
        parse_amount("0.00000000", USDT)
    assert parse_amount("0.000", USDT, allow_zero=True) == 0


def test_the_error_names_the_field():
    with pytest.raises(InvalidAmount) as info:
        parse_amount("1e5", USDT, "fee")
    assert info.value.field == "fee"
    assert "fee" in str(info.value)


def test_more_than_thirty_integer_digits_are_rejected():
    parse_amount("9" * 30, USDT)
    with pytest.raises(InvalidAmount):
        parse_amount("1" * 31, USDT)


def test_a_long_amount_with_too_many_decimals_is_rejected_not_a_crash():
    with pytest.raises(InvalidAmount):
        parse_amount("1" * 30 + ".123456789", USDT)


_DIGITS = st.text("0123456789", min_size=1, max_size=40)


@given(_DIGITS, st.none() | _DIGITS)
def test_any_digit_string_parses_or_raises_invalid_amount(whole, fraction):
    text = whole if fraction is None else f"{whole}.{fraction}"
    try:
        amount = parse_amount(text, USDT)
    except InvalidAmount:
        return
    assert amount == Decimal(text)
    assert amount > 0


# Every amount the grammar admits for an 8-decimal currency: up to 30 integer
# digits and 8 decimals.
_amounts = st.integers(0, 8).flatmap(
    lambda places: st.integers(1, 10 ** (30 + places) - 1).map(
        lambda units: Decimal(f"{units}E-{places}")
    )
)


@given(_amounts)
def test_to_wire_then_parse_amount_returns_the_same_amount(amount):
    assert parse_amount(to_wire(amount), USDT) == amount


@given(_amounts, _amounts)
def test_crediting_and_debiting_are_exact_for_any_amount(a, b):
    key = AccountKey("u1", AccountType.MAIN, "USDT")
    account = Account("a1", key).posted(True, a, 1).posted(True, b, 2)
    assert Fraction(account.balance) == Fraction(a) + Fraction(b)
    assert account.available == account.balance
    held = account.held(a)
    assert Fraction(held.available) == Fraction(b)
    assert held.released(a) == account
    assert account.posted(False, a, 3).posted(False, b, 4).balance == 0


@pytest.mark.parametrize(
    ("amount", "wire"),
    [
        ("0", "0"),
        ("0.00000000", "0"),
        ("100", "100"),
        ("1E+2", "100"),
        ("100.50000000", "100.5"),
        ("0.00000001", "0.00000001"),
        ("1E-8", "0.00000001"),
        ("123456789012345678901234567890", "123456789012345678901234567890"),
        (
            "123456789012345678901234567890.12345678",
            "123456789012345678901234567890.12345678",
        ),
    ],
)
def test_to_wire_prints_plain_digits_without_trailing_zeros(amount, wire):
    assert to_wire(Decimal(amount)) == wire


@given(
    st.decimals(allow_nan=False, allow_infinity=False)
    | _amounts
    | st.builds(
        Decimal,
        st.from_regex(
            r"-?[0-9]{1,40}(\.[0-9]{0,40})?(E[+-]?[0-9]{1,2})?", fullmatch=True
        ),
    )
)
def test_to_wire_spells_any_amount_as_normalize_and_format_do(amount):
    expected = "0" if amount == 0 else format(amount.normalize(MONEY), "f")
    assert to_wire(amount) == expected
