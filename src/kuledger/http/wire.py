"""KuCoin wire shapes. camelCase names live here (and in kuledger_client) only."""

from __future__ import annotations

from typing import Any

from kuledger.domain import biztypes
from kuledger.domain.accounts import Account
from kuledger.domain.entries import Entry
from kuledger.domain.money import to_wire

LedgerRow = tuple[Any, ...]  # see LedgerReader.marked_entry_rows


def biz_name(code: str, style: str) -> str:
    if style == "display":
        return biztypes.BY_CODE[code].display
    return code


def spot_ledger_item(row: LedgerRow, style: str = "code") -> dict[str, Any]:
    """A GET /api/v1/accounts/ledgers item: strings, integer createdAt."""
    entry_id, currency, amount, fee, balance, account_type, biz, direction, at, ctx = (
        row
    )
    return {
        "id": str(entry_id),
        "currency": currency,
        "amount": amount,
        "fee": fee,
        "balance": balance,
        "accountType": account_type.upper(),
        "bizType": biz_name(biz, style),
        "direction": direction,
        "createdAt": at,
        "context": ctx,
    }


def entry_row(entry: Entry) -> LedgerRow:
    return (
        entry.id,
        entry.currency,
        to_wire(entry.amount),
        to_wire(entry.fee),
        to_wire(entry.balance),
        entry.account_type.value,
        entry.biz_code,
        entry.direction.value,
        entry.created_at,
        entry.context,
    )


def account_item(account: Account) -> dict[str, str]:
    """A GET /api/v1/accounts item."""
    return {
        "id": account.id,
        "currency": account.key.currency,
        "type": account.key.type.value,
        "balance": to_wire(account.balance),
        "available": to_wire(account.available),
        "holds": to_wire(account.holds),
    }
