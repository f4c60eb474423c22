"""Exact money: parsing decimal strings and rendering them for the wire."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Context, Decimal

from kuledger.domain.errors import InvalidAmount

ZERO = Decimal(0)

# Arithmetic on money must never round. The default context keeps 28 significant
# digits and rounds silently past them, while an amount may have 30 integer
# digits and 30 decimals and a balance is a sum of amounts: 200 digits hold any
# product of two amounts and any balance the ledger can reach. Use MONEY.add(),
# MONEY.subtract(), MONEY.multiply(), never the operators.
MONEY = Context(prec=200)

# A plain decimal: ASCII digits, an optional fraction, no sign, exponent, NaN or
# infinity. (\d would also match other scripts' digits, which Decimal accepts.)
_PLAIN_DECIMAL = re.compile(r"[0-9]{1,30}(\.[0-9]{1,30})?")


@dataclass(frozen=True, slots=True)
class Currency:
    """A catalogue entry: amounts in `code` may have at most `precision` decimals."""

    code: str
    precision: int
    name: str


def parse_amount(
    value: object,
    currency: Currency,
    field: str = "amount",
    *,
    allow_zero: bool = False,
) -> Decimal:
    """Parse a decimal string into a Decimal, or raise InvalidAmount naming `field`.

    Rejects floats (they are not exact), exponents, NaN, infinity, signs, values
    finer than the currency's precision and, unless allow_zero, zero.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _PLAIN_DECIMAL.fullmatch(value):
        raise InvalidAmount(
            field, f"{field} must be a plain positive decimal string, got {value!r}"
        )
    amount = Decimal(value)
    if len(value.partition(".")[2].rstrip("0")) > currency.precision:
        raise InvalidAmount(
            field,
            f"{field} {value} has more than {currency.precision} decimals "
            f"allowed for {currency.code}",
        )
    if amount == ZERO and not allow_zero:
        raise InvalidAmount(field, f"{field} must be greater than zero")
    return amount


def to_wire(amount: Decimal) -> str:
    """Render an amount as KuCoin does: plain digits, no exponent, no trailing zeros."""
    # str() is plain digits for the amounts the ledger holds (exponent <= 0,
    # at most 6 leading zeros after the point); trimming its zeros is 3x
    # faster than normalize() + format(), which renders all the others.
    # tests/unit/domain/test_money.py compares the two on arbitrary values.
    text = str(amount)
    if "E" in text:
        return _to_wire_slow(amount)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text.lstrip("-") in ("", "0"):
        return "0"
    return text


def _to_wire_slow(amount: Decimal) -> str:
    if amount == ZERO:
        return "0"
    return format(amount.normalize(MONEY), "f")
