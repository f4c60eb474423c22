"""Balance changes, as KuCoin's private /account/balance channel reports them."""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from kuledger.domain.accounts import AccountType

_EVENTS = {
    "DEPOSIT": "deposit",
    "WITHDRAW": "withdraw_done",
    "TRANSFER": "transfer",
    "SUB_TRANSFER": "transfer",
    "TRADE_EXCHANGE": "setted",
    "MARGIN_EXCHANGE": "setted",
    "ISOLATED_EXCHANGE": "setted",
}


def relation_event(account_type: AccountType, biz_code: str | None) -> str:
    """KuCoin's relationEvent, e.g. main.deposit, trade.setted, trade.hold."""
    action = "hold" if biz_code is None else _EVENTS.get(biz_code, "other")
    return f"{account_type.value}.{action}"


class BalanceChange(NamedTuple):
    """One change of one account: its state right after, and the deltas. A
    NamedTuple: the writer builds one per entry (a frozen dataclass's
    __init__ was 6% of the group-commit writer)."""

    uid: str
    account_id: str
    account_type: AccountType
    currency: str
    total: Decimal
    available: Decimal
    hold: Decimal
    available_change: Decimal
    hold_change: Decimal
    relation_event: str
    relation_event_id: str
    relation_context: str  # a JSON object as text, or ""
    time: int
