"""Recomputing every account from its entries: the ledger's audit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from kuledger.domain.accounts import Account
from kuledger.domain.money import MONEY, ZERO

MAX_REPORTED = 100

# (account_id, seq, amount, direction, balance, entry id), by account then seq
Trail = Iterable[tuple[str, int, Decimal, str, Decimal, int]]


@dataclass
class VerifyReport:
    accounts: int = 0
    entries: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(problem)


def verify(accounts: Iterator[Account], trail: Trail) -> VerifyReport:
    """Check that for every account:
    - entries are numbered 1, 2, 3... with no gap or repeat;
    - each entry's balance equals the running sum of in minus out;
    - the stored balance equals that sum and the seq equals the entry count;
    - balance = available + holds and none of them is negative.

    Once retention has deleted an account's oldest entries, its numbering and
    running sum start from its base (base_seq, base_balance) instead of (0, 0).
    """
    report = VerifyReport()
    by_id = {a.id: a for a in accounts}
    report.accounts = len(by_id)
    running: dict[str, tuple[int, Decimal]] = {
        a.id: (a.base_seq, a.base_balance) for a in by_id.values()
    }
    for account_id, seq, amount, direction, balance, entry_id in trail:
        report.entries += 1
        last_seq, total = running.get(account_id, (0, ZERO))
        if account_id not in by_id:
            report.add(f"entry {entry_id}: account {account_id} does not exist")
        if seq != last_seq + 1:
            report.add(
                f"account {account_id}: entry {entry_id} has seq {seq}, "
                f"expected {last_seq + 1}"
            )
        if direction == "in":
            total = MONEY.add(total, amount)
        else:
            total = MONEY.subtract(total, amount)
        if direction not in ("in", "out"):
            report.add(f"entry {entry_id}: direction {direction!r}")
        if balance != total:
            report.add(
                f"account {account_id}: entry {entry_id} (seq {seq}) says balance "
                f"{balance}, the running sum is {total}"
            )
        running[account_id] = (seq, total)
    for account in by_id.values():
        _check_account(account, running.get(account.id, (0, ZERO)), report)
    return report


def _check_account(
    account: Account, seen: tuple[int, Decimal], report: VerifyReport
) -> None:
    count, total = seen
    key = account.key
    name = f"account {account.id} ({key.uid} {key.type.value} {key.currency})"
    if account.balance != total:
        report.add(f"{name}: stored balance {account.balance}, entries sum to {total}")
    if account.seq != count:
        report.add(f"{name}: stored seq {account.seq}, last entry seq {count}")
    if account.balance != MONEY.add(account.available, account.holds):
        report.add(
            f"{name}: balance {account.balance} != available {account.available} "
            f"+ holds {account.holds}"
        )
    if min(account.balance, account.available, account.holds) < ZERO:
        report.add(f"{name}: negative balance, available or holds")
