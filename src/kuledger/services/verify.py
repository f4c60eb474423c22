"""Recomputing every account from its entries: the ledger's audit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from kuledger.domain.accounts import Account
from kuledger.domain.chain import entry_hash
from kuledger.domain.money import MONEY, ZERO
from kuledger.services.ports import TrailRow

MAX_REPORTED = 100


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a verified account stood: its last entry's seq, hash and balance."""

    account_id: str
    seq: int
    hash: str
    balance: Decimal


@dataclass
class VerifyReport:
    accounts: int = 0
    entries: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    chained: int = 0  # entries whose hash was recomputed
    broken_chains: int = 0  # accounts whose chain is broken
    resumed: int = 0  # accounts replayed from a checkpoint (verify --since)
    # Where each account's replay ended: the checkpoints to store when ok.
    heads: dict[str, Checkpoint] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(problem)


def verify(
    accounts: Iterator[Account],
    trail: Iterable[TrailRow],
    checkpoints: Mapping[str, Checkpoint] | None = None,
) -> VerifyReport:
    """Check that for every account:
    - entries are numbered 1, 2, 3... with no gap or repeat;
    - each entry's balance equals the running sum of in minus out;
    - the stored balance equals that sum and the seq equals the entry count;
    - balance = available + holds and none of them is negative;
    - each entry's hash is the hash of its fields and its predecessor's hash,
      and the account's stored chain head is the last entry's hash. Only the
      first bad link of an account is reported: everything after it is
      suspect anyway.

    `trail` holds the entries by account, then seq.

    Once retention has deleted an account's oldest entries, its numbering,
    running sum and chain start from its base (base_seq, base_balance,
    base_hash) instead of (0, 0, GENESIS). With `checkpoints` (verify --since),
    an account that has one starts from it instead (unless retention has since
    moved the base past it), and `trail` need only hold the newer entries.
    """
    report = VerifyReport()
    by_id = {a.id: a for a in accounts}
    report.accounts = len(by_id)
    checkpoints = checkpoints or {}
    running: dict[str, tuple[int, Decimal, str]] = {}
    for a in by_id.values():
        start = checkpoints.get(a.id)
        if start is not None and start.seq >= a.base_seq:
            report.resumed += 1
            running[a.id] = (start.seq, start.balance, start.hash)
        else:
            running[a.id] = (a.base_seq, a.base_balance, a.base_hash)
    broken: set[str] = set()
    for row in trail:
        account_id, entry_id, seq = row.account_id, row.id, row.seq
        report.entries += 1
        last_seq, total, head = running.get(account_id, (0, ZERO, ""))
        if account_id not in by_id:
            report.add(f"entry {entry_id}: account {account_id} does not exist")
        if seq != last_seq + 1:
            report.add(
                f"account {account_id}: entry {entry_id} has seq {seq}, "
                f"expected {last_seq + 1}"
            )
        if row.direction == "in":
            total = MONEY.add(total, row.amount)
        else:
            total = MONEY.subtract(total, row.amount)
        if row.direction not in ("in", "out"):
            report.add(f"entry {entry_id}: direction {row.direction!r}")
        if row.balance != total:
            report.add(
                f"account {account_id}: entry {entry_id} (seq {seq}) says balance "
                f"{row.balance}, the running sum is {total}"
            )
        report.chained += 1
        link = entry_hash(
            head,
            entry_id,
            row.uid,
            account_id,
            row.account_type,
            row.currency,
            row.amount,
            row.fee,
            row.balance,
            row.direction,
            row.biz_code,
            row.created_at,
            row.context,
            seq,
        )
        if link != row.hash and account_id not in broken:
            broken.add(account_id)
            report.add(
                f"account {account_id}: chain broken at entry {entry_id} "
                f"(seq {seq}): stored hash {row.hash[:16]}, recomputed {link[:16]} "
                "(the entry or one before it was changed, removed or moved)"
            )
        head = row.hash  # a single edited entry breaks one link, not all
        running[account_id] = (seq, total, head)
    for account in by_id.values():
        seq, total, head = running[account.id]
        _check_account(account, (seq, total), report)
        # A chain already broken has had its first bad entry reported.
        if account.id not in broken and account.chain_head != head:
            broken.add(account.id)
            report.add(
                f"account {account.id}: stored chain head "
                f"{account.chain_head[:16]}, its entries chain to {head[:16]}"
            )
        report.heads[account.id] = Checkpoint(account.id, seq, head, total)
    report.broken_chains = len(broken)
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
