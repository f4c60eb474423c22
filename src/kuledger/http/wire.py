"""KuCoin wire shapes. camelCase names live here (and in kuledger_client) only."""

from __future__ import annotations

from typing import Any

from kuledger.domain import biztypes
from kuledger.domain.accounts import Account
from kuledger.domain.entries import Entry
from kuledger.domain.money import to_wire
from kuledger.services.ports import LedgerRow


def biz_name(code: str, style: str) -> str:
    if style == "display":
        return biztypes.BY_CODE[code].display
    return code


def spot_ledger_item(row: LedgerRow, style: str = "code") -> dict[str, Any]:
    """A GET /api/v1/accounts/ledgers item: strings, integer createdAt."""
    return {
        "id": str(row.id),
        "currency": row.currency,
        "amount": row.amount,
        "fee": row.fee,
        "balance": row.balance,
        "accountType": row.account_type.upper(),
        "bizType": biz_name(row.biz_code, style),
        "direction": row.direction,
        "createdAt": row.created_at,
        "context": row.context,
    }


def entry_row(entry: Entry) -> LedgerRow:
    return LedgerRow(
        id=entry.id,
        currency=entry.currency,
        amount=to_wire(entry.amount),
        fee=to_wire(entry.fee),
        balance=to_wire(entry.balance),
        account_type=entry.account_type.value,
        biz_code=entry.biz_code,
        direction=entry.direction.value,
        created_at=entry.created_at,
        context=entry.context,
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
