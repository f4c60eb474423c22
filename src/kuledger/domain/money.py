"""Exact money: parsing decimal strings and rendering them for the wire."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from kuledger.domain.errors import InvalidAmount

ZERO = Decimal(0)

# A plain decimal: digits, an optional fraction, no sign, exponent, NaN or infinity.
_PLAIN_DECIMAL = re.compile(r"\d{1,30}(\.\d{1,30})?")


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
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:  # unreachable after the regex, kept as a guard
        raise InvalidAmount(field, f"{field} is not a decimal: {value!r}") from exc
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > currency.precision and amount != amount.quantize(
        Decimal(1).scaleb(-currency.precision)
    ):
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
    if amount == ZERO:
        return "0"
    return format(amount.normalize(), "f")
