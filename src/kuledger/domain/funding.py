"""Deposits and withdrawals: their statuses, the moves between them, and the
ledger operations those moves are.

A deposit is PROCESSING until the operator settles it; only SUCCESS writes
its entry (a `deposit` operation). A withdrawal holds amount + fee when it is
applied (a `hold`); cancelling it or its FAILURE releases the hold (a
`release`); its SUCCESS is one `withdrawal_settle` operation that releases the
hold and writes the withdrawal entry and the fee entry.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from kuledger.domain import biztypes
from kuledger.domain.accounts import AccountKey, AccountType
from kuledger.domain.entries import Direction, HoldChange, Posting
from kuledger.domain.errors import InvalidInput
from kuledger.domain.money import MONEY, ZERO, Currency
from kuledger.domain.operations import Operation, Plan

DEPOSIT_STATUSES = ("PROCESSING", "SUCCESS", "FAILURE")
WITHDRAWAL_STATUSES = (
    "PROCESSING",
    "REVIEW",
    "WALLET_PROCESSING",
    "SUCCESS",
    "FAILURE",
)
FINAL = frozenset({"SUCCESS", "FAILURE"})
# A withdrawal may be cancelled only before the wallet has it.
CANCELLABLE = frozenset({"PROCESSING", "REVIEW"})
_WITHDRAWAL_MOVES = {
    "PROCESSING": {"REVIEW", "WALLET_PROCESSING", "SUCCESS", "FAILURE"},
    "REVIEW": {"PROCESSING", "WALLET_PROCESSING", "SUCCESS", "FAILURE"},
    "WALLET_PROCESSING": {"SUCCESS", "FAILURE"},
}
CANCELLED = "cancelled by the user"


class InvalidTransition(InvalidInput):
    """Raised when a deposit or withdrawal cannot move to the status asked for
    (it is final already, or, for a cancel, the wallet has it)."""

    def __init__(self, kind: str, record_id: str, status: str, target: str) -> None:
        super().__init__(
            "status", f"{kind} {record_id} is {status}: it cannot become {target}"
        )


class AddressExists(InvalidInput):
    """Raised when the API asks for a deposit address the user has already
    (KuCoin's 260000); the operator may replace one."""

    def __init__(self, currency: str, chain: str) -> None:
        super().__init__("chain", "Deposit address already exists.")
        self.currency = currency
        self.chain = chain


class FundingNotFound(InvalidInput):
    """Raised when a deposit or withdrawal id names none of the caller's."""

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__("id", f"no {kind} {record_id!r}")


def check_deposit_move(record_id: str, status: str, target: str) -> None:
    if target not in DEPOSIT_STATUSES:
        raise InvalidInput("status", f"status must be one of {DEPOSIT_STATUSES}")
    if status != "PROCESSING" or target == "PROCESSING":
        raise InvalidTransition("deposit", record_id, status, target)


def check_withdrawal_move(record_id: str, status: str, target: str) -> None:
    if target not in WITHDRAWAL_STATUSES:
        raise InvalidInput("status", f"status must be one of {WITHDRAWAL_STATUSES}")
    if target not in _WITHDRAWAL_MOVES.get(status, set()):
        raise InvalidTransition("withdrawal", record_id, status, target)


def cancel_type(status: str) -> str:
    """KuCoin's cancelType of a withdrawal in `status`."""
    return "CANCELABLE" if status in CANCELLABLE else "NON_CANCELABLE"


def new_id() -> str:
    """24 hex characters, like KuCoin's deposit and withdrawal ids."""
    return secrets.token_hex(12)


def new_address(currency: str, chain: str) -> str:
    """A generated deposit address: recognisably not a real one."""
    return f"kl-{chain.lower()}-{currency.lower()}-{secrets.token_hex(16)}"


def funding_context(record_id: str, tx_id: str) -> str:
    """An entry's context, as KuCoin's deposit and withdrawal entries have it."""
    return json.dumps({"orderId": record_id, "txId": tx_id}, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class DepositAddress:
    uid: str
    currency: str
    chain: str  # the chainId
    address: str
    memo: str
    to: AccountType  # main or trade
    created_at: int


@dataclass(frozen=True, slots=True)
class DepositRecord:
    id: str
    uid: str
    currency: str
    chain: str
    address: str
    memo: str
    to: AccountType
    amount: Decimal
    fee: Decimal
    wallet_tx_id: str
    is_inner: bool
    remark: str
    status: str
    op_id: str | None
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class WithdrawalRecord:
    id: str
    uid: str
    currency: str
    chain: str
    address: str
    memo: str
    is_inner: bool
    amount: Decimal  # what the address receives
    fee: Decimal  # charged on top: amount + fee is held
    remark: str
    wallet_tx_id: str
    status: str
    failure_reason: str
    hold_op_id: str
    final_op_id: str | None
    created_at: int
    updated_at: int

    @property
    def total(self) -> Decimal:
        return MONEY.add(self.amount, self.fee)


def deposit_op_id(record_id: str) -> str:
    return f"deposit:{record_id}"


def hold_op_id(record_id: str) -> str:
    return f"withdrawal-hold:{record_id}"


def release_op_id(record_id: str) -> str:
    return f"withdrawal-release:{record_id}"


def settle_op_id(record_id: str) -> str:
    return f"withdrawal-settle:{record_id}"


@dataclass(frozen=True, slots=True)
class WithdrawalSettlement(Operation):
    """A withdrawal's SUCCESS: release its hold of amount + fee, then write
    the withdrawal entry (amount) and the fee entry (fee), both WITHDRAW."""

    name: ClassVar[str] = "withdrawal_settle"
    currency: Currency = None  # type: ignore[assignment]
    amount: Decimal = ZERO
    fee: Decimal = ZERO
    context: str = ""

    def plan(self) -> Plan:
        key = AccountKey(self.uid, AccountType.MAIN, self.currency.code)
        withdraw = biztypes.BY_CODE["WITHDRAW"]
        postings = [
            Posting(key, Direction.OUT, self.amount, withdraw, ZERO, self.context)
        ]
        if self.fee > ZERO:
            postings.append(
                Posting(key, Direction.OUT, self.fee, withdraw, self.fee, self.context)
            )
        total = MONEY.add(self.amount, self.fee)
        return Plan(tuple(postings), (HoldChange(key, total, release=True),))
