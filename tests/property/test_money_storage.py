"""Amounts survive a trip through each engine exactly, and come back canonical.

The wire shows amounts as the database hands them over (NUMERIC::text on
PostgreSQL, TEXT on SQLite), so both must hold the canonical spelling (plain
digits, no trailing zeros) whatever spelling the operation used, and no digit
may be lost however long the amount.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kuledger.domain.accounts import Book
from kuledger.domain.money import to_wire
from kuledger.services import ledger, users
from kuledger.services.ports import LedgerFilter, Seek

_uids = itertools.count(1)
# Amounts in units of 1e-8 (USDT's precision), up to 30 whole digits.
_units = st.integers(1, 10**38 - 1)


def _amount(units: int) -> Decimal:
    return Decimal(f"{units}E-8")


def _spelled(units: int, style: str) -> str:
    """One of the ways a client may write the amount."""
    if style == "canonical":
        return to_wire(_amount(units))
    padded = f"{units // 10**8}.{units % 10**8:08d}"
    return padded + ("000" if style == "extra zeros" else "")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    deposited=_units,
    share=st.fractions(0, 1),
    styles=st.lists(
        st.sampled_from(["canonical", "padded", "extra zeros"]), min_size=2, max_size=2
    ),
)
def test_amounts_and_balances_read_back_exact_and_canonical(
    container, deposited, share, styles
):
    uid = f"m{next(_uids)}"
    users.create_user(container.uow, container.clock, uid=uid)
    withdrawn = int(deposited * share)
    ops = [
        {
            "op": "deposit",
            "uid": uid,
            "id": "d",
            "currency": "USDT",
            "amount": _spelled(deposited, styles[0]),
        }
    ]
    if withdrawn:
        ops.append(
            {
                "op": "withdrawal",
                "uid": uid,
                "id": "w",
                "currency": "USDT",
                "amount": _spelled(withdrawn, styles[1]),
            }
        )
    ledger.apply_batch(container.uow, ops, container.clock)

    rows = container.reader.counted_entry_rows(
        LedgerFilter(uid, Book.SPOT, 0, 2**62), Seek(), 10, None
    ).rows
    expected = [(to_wire(_amount(deposited)), to_wire(_amount(deposited)))]
    if withdrawn:
        left = to_wire(_amount(deposited - withdrawn)) if deposited > withdrawn else "0"
        expected.insert(0, (to_wire(_amount(withdrawn)), left))
    assert [(row.amount, row.balance) for row in rows] == expected
    [account] = container.reader.accounts(uid)
    assert account.balance == _amount(deposited - withdrawn)
    assert [e.balance for e in container.reader.entries(uid)] == [
        _amount(deposited - withdrawn),
        _amount(deposited),
    ][-len(ops) :]
