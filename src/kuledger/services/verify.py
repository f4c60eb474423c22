"""Recomputing every account from its entries: the ledger's audit."""

from __future__ import annotations

import enum
import functools
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from kuledger.domain.accounts import Account, AccountType, book_of
from kuledger.domain.chain import (
    checkpoint_line,
    checkpoint_root,
    entry_hash,
    entry_hash_v2,
    operation_digest,
)
from kuledger.domain.errors import UnknownAccountType
from kuledger.domain.money import MONEY, ZERO
from kuledger.services.ports import StoredOperation, TrailRow

MAX_REPORTED = 100


class Kind(enum.StrEnum):
    """What a finding is about: where an investigator starts looking."""

    SEQ = "seq"  # entry numbering: a gap, a repeat, a stored seq that disagrees
    BALANCE = "balance"  # a running sum, stored balance, available + holds
    DIRECTION = "direction"
    CHAIN = "chain"  # a hash that is not its fields' (entry, head)
    ACCOUNT_KEY = "account-key"  # an account's owner, type or currency changed
    BOOK = "book"  # an entry moved to another ledger (book)
    OPERATION = "operation"  # an operation (idempotency) record changed or gone
    ORPHAN = "orphan-entry"  # an entry whose account does not exist
    MISSING_ENTRY = "missing-entry"  # an entry an operation record lists is gone
    ACCOUNT_GONE = "account-gone"  # an account verified before no longer exists
    CHECKPOINT = "checkpoint"  # history, or the checkpoints, changed since a verify


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    message: str
    account: str | None = None
    entry: int | None = None
    seq: int | None = None
    operation: tuple[str, str] | None = None  # (uid, id) of an operation record

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "account": self.account,
            "entry": self.entry,
            "seq": self.seq,
            "operation": None if self.operation is None else list(self.operation),
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a verified account stood: its last entry's seq, hash and balance,
    and its key (owner, type, currency; None on checkpoints stored before
    migration 0005 for an account gone by then)."""

    account_id: str
    seq: int
    hash: str
    balance: Decimal
    uid: str | None = None
    type: str | None = None
    currency: str | None = None

    def line(self) -> bytes:
        return checkpoint_line(
            self.account_id,
            self.uid or "",
            self.type or "",
            self.currency or "",
            self.seq,
            self.hash,
            self.balance,
        )


@dataclass(frozen=True, slots=True)
class VerifyRun:
    """A clean verify as stored: when, and the root over its checkpoints."""

    verified_at: int
    root: str


def root_of(checkpoints: Iterable[Checkpoint]) -> str:
    """The root over checkpoints (domain.chain.checkpoint_root), by account id."""
    ordered = sorted(checkpoints, key=lambda c: c.account_id)
    return checkpoint_root(c.line() for c in ordered)


@dataclass
class VerifyReport:
    accounts: int = 0
    entries: int = 0
    findings: list[Finding] = field(default_factory=list)
    problem_count: int = 0
    kinds: Counter[str] = field(default_factory=Counter)  # every finding, by kind
    chained: int = 0  # entries whose hash was recomputed
    broken_chains: int = 0  # accounts whose chain is broken
    resumed: int = 0  # accounts replayed from a checkpoint (verify --since)
    operations: int = 0  # operation records checked on their own
    # Where each account's replay ended: the checkpoints to store when ok.
    heads: dict[str, Checkpoint] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def problems(self) -> list[str]:
        return [f.message for f in self.findings]

    @property
    def root(self) -> str:
        """The root over `heads`: what a clean run stores and can publish."""
        return root_of(self.heads.values())

    def add(
        self,
        kind: Kind,
        problem: str,
        account: str | None = None,
        entry: int | None = None,
        seq: int | None = None,
        operation: tuple[str, str] | None = None,
    ) -> None:
        self.problem_count += 1
        self.kinds[kind.value] += 1
        if len(self.findings) < MAX_REPORTED:
            self.findings.append(Finding(kind, problem, account, entry, seq, operation))


class VerifySource(Protocol):
    """What verify reads: one consistent state of the database."""

    def all_accounts(self) -> Iterator[Account]: ...
    def entry_trail(self, since: bool = False) -> Iterator[TrailRow]: ...
    def operation_records(self) -> Iterator[StoredOperation]: ...
    def missing_operation_entries(self) -> Iterator[tuple[str, str, int, int]]: ...
    def verify_checkpoints(self) -> dict[str, Checkpoint]: ...
    def last_verify_run(self) -> VerifyRun | None: ...


def verify_all(source: VerifySource, since: bool = False) -> VerifyReport:
    """What `kuledger verify [--since]` checks: every account against the last
    clean run's checkpoints; with `since`, each replayed from its checkpoint,
    and only the operation records of the newer entries (through their chain)."""
    known = source.verify_checkpoints()
    last_run = source.last_verify_run()
    report = verify(
        source.all_accounts(),
        source.entry_trail(since=since),
        known if since else None,
        known=known,
        last_run=last_run,
        operations=() if since else source.operation_records(),
        missing=() if since else source.missing_operation_entries(),
    )
    if known and last_run is None:  # every clean run (and migration 0005) has one
        report.add(
            Kind.CHECKPOINT,
            f"{len(known)} verify checkpoints and no verify run recording their "
            "root (verify_runs was emptied)",
        )
    return report


def verify(
    accounts: Iterator[Account],
    trail: Iterable[TrailRow],
    checkpoints: Mapping[str, Checkpoint] | None = None,
    *,
    known: Mapping[str, Checkpoint] | None = None,
    last_run: VerifyRun | None = None,
    operations: Iterable[StoredOperation] = (),
    missing: Iterable[tuple[str, str, int, int]] = (),
) -> VerifyReport:
    """Check that for every account:
    - entries are numbered 1, 2, 3... with no gap or repeat;
    - each entry's balance equals the running sum of in minus out;
    - the stored balance equals that sum and the seq equals the entry count;
    - balance = available + holds and none of them is negative;
    - each entry's hash is the hash of its fields and its predecessor's hash
      (and, chain v2, of its book and its operation record), and the account's
      stored chain head is the last entry's hash. Only the first bad link of
      an account is reported: everything after it is suspect anyway;
    - each entry's (hashed) owner, type and currency are its account row's;
    - each entry's book is the one its account type and business type imply;
    - the operation record a v2 entry names exists.

    `trail` holds the entries by account, then seq.

    Once retention has deleted an account's oldest entries, its numbering,
    running sum and chain start from its base (base_seq, base_balance,
    base_hash) instead of (0, 0, GENESIS). With `checkpoints` (verify --since),
    an account that has one starts from it instead (unless retention has since
    moved the base past it), and `trail` need only hold the newer entries.

    `known` (default: `checkpoints`) are the checkpoints the last clean run
    stored: an account among them must still exist with the same key, its seq
    must not have gone back, and an entry replayed at a checkpoint's seq must
    have the hash seen then. `last_run`'s root must be theirs. `operations`
    are operation records checked on their own (a full verify passes all),
    `missing` the (uid, op_id, created_at, entry id) of entries their results
    list that do not exist: reported unless older than every entry of the
    trail (retention deletes entries, then their records).
    """
    report = VerifyReport()
    by_id = {a.id: a for a in accounts}
    report.accounts = len(by_id)
    checkpoints = checkpoints or {}
    known = checkpoints if known is None else known
    running: dict[str, tuple[int, Decimal, str]] = {}
    for a in by_id.values():
        start = checkpoints.get(a.id)
        if start is not None and start.seq >= a.base_seq:
            report.resumed += 1
            running[a.id] = (start.seq, start.balance, start.hash)
        else:
            running[a.id] = (a.base_seq, a.base_balance, a.base_hash)
    broken: set[str] = set()
    rekeyed: set[str] = set()  # accounts whose key finding is reported
    bad_operations: set[tuple[str, str]] = set()
    oldest: int | None = None  # the oldest entry's createdAt
    for row in trail:
        account_id, entry_id, seq = row.account_id, row.id, row.seq
        report.entries += 1
        if oldest is None or row.created_at < oldest:
            oldest = row.created_at
        last_seq, total, head = running.get(account_id, (0, ZERO, ""))
        account = by_id.get(account_id)
        if account is None:
            report.add(
                Kind.ORPHAN,
                f"entry {entry_id}: account {account_id} does not exist",
                account_id,
                entry_id,
                seq,
            )
        elif account_id not in rekeyed:
            key = account.key
            if (row.uid, row.account_type, row.currency) != (
                key.uid,
                key.type.value,
                key.currency,
            ):
                rekeyed.add(account_id)
                report.add(
                    Kind.ACCOUNT_KEY,
                    f"account {account_id}: the row says {key.uid} "
                    f"{key.type.value} {key.currency}, its entries say {row.uid} "
                    f"{row.account_type} {row.currency} (first: entry {entry_id}, "
                    f"seq {seq})",
                    account_id,
                    entry_id,
                    seq,
                )
        if seq != last_seq + 1:
            report.add(
                Kind.SEQ,
                f"account {account_id}: entry {entry_id} has seq {seq}, "
                f"expected {last_seq + 1}",
                account_id,
                entry_id,
                seq,
            )
        if row.direction == "in":
            total = MONEY.add(total, row.amount)
        else:
            total = MONEY.subtract(total, row.amount)
        if row.direction not in ("in", "out"):
            report.add(
                Kind.DIRECTION,
                f"entry {entry_id}: direction {row.direction!r}",
                account_id,
                entry_id,
                seq,
            )
        if row.balance != total:
            report.add(
                Kind.BALANCE,
                f"account {account_id}: entry {entry_id} (seq {seq}) says balance "
                f"{row.balance}, the running sum is {total}",
                account_id,
                entry_id,
                seq,
            )
        if row.book is not None:
            _check_book(row, report)
        mark = known.get(account_id)
        if mark is not None and mark.seq == seq and mark.hash != row.hash:
            report.add(
                Kind.CHECKPOINT,
                f"account {account_id}: entry {entry_id} (seq {seq}) has hash "
                f"{row.hash[:16]}, the last verify saw {mark.hash[:16]} there "
                "(the history up to it was rewritten since)",
                account_id,
                entry_id,
                seq,
            )
        _check_link(row, head, report, broken, bad_operations)
        head = row.hash  # a single edited entry breaks one link, not all
        running[account_id] = (seq, total, head)
    for account in by_id.values():
        seq, total, head = running[account.id]
        _check_account(account, (seq, total), report)
        # A chain already broken has had its first bad entry reported.
        if account.id not in broken and account.chain_head != head:
            broken.add(account.id)
            report.add(
                Kind.CHAIN,
                f"account {account.id}: stored chain head "
                f"{account.chain_head[:16]}, its entries chain to {head[:16]}",
                account.id,
            )
        key = account.key
        report.heads[account.id] = Checkpoint(
            account.id, seq, head, total, key.uid, key.type.value, key.currency
        )
    report.broken_chains = len(broken)
    _check_known(by_id, known, last_run, report)
    for uid, op_id, created_at, entry_id in missing:
        if oldest is not None and created_at >= oldest:
            report.add(
                Kind.MISSING_ENTRY,
                f"operation ({uid}, {op_id}) wrote entry {entry_id}, which does "
                "not exist (deleted, with its account if that is gone too; or "
                "the record's result was changed)",
                entry=entry_id,
                operation=(uid, op_id),
            )
    for record in operations:
        report.operations += 1
        problem = _record_problem(record)
        if problem is not None:
            ref = (record.uid, record.op_id)
            report.add(
                Kind.OPERATION,
                f"operation ({record.uid}, {record.op_id}): {problem}",
                operation=ref,
            )
    return report


@functools.cache
def _book(account_type: str, biz_code: str) -> str | None:
    try:
        return book_of(AccountType.parse(account_type), biz_code).value
    except UnknownAccountType:
        return None  # an edited type: the chain link shows it


def _check_book(row: TrailRow, report: VerifyReport) -> None:
    expected = _book(row.account_type, row.biz_code)
    if expected is not None and row.book != expected:
        report.add(
            Kind.BOOK,
            f"account {row.account_id}: entry {row.id} (seq {row.seq}) is in book "
            f"{row.book!r}, its account type and business type put it in "
            f"{expected!r}",
            row.account_id,
            row.id,
            row.seq,
        )


def _check_link(
    row: TrailRow,
    head: str,
    report: VerifyReport,
    broken: set[str],
    bad_operations: set[tuple[str, str]],
) -> None:
    """Recompute the entry's hash from `head` (v1, or v2 with its book and
    operation record) and report the first bad link of its account."""
    fields = (
        head,
        row.id,
        row.uid,
        row.account_id,
        row.account_type,
        row.currency,
        row.amount,
        row.fee,
        row.balance,
        row.direction,
        row.biz_code,
        row.created_at,
        row.context,
        row.seq,
    )
    where = f"account {row.account_id}: entry {row.id} (seq {row.seq})"
    if row.op_uid is None and row.op_id is None:
        link = entry_hash(*fields)
        report.chained += 1
        cause = "the entry or one before it was changed, removed or moved"
    else:
        ref = (row.op_uid or "", row.op_id or "")
        record = row.operation
        if record is None:
            if ref not in bad_operations:
                bad_operations.add(ref)
                report.add(
                    Kind.OPERATION,
                    f"{where} names operation {ref}, which does not exist "
                    "(the record was deleted, or the entry's reference changed)",
                    row.account_id,
                    row.id,
                    row.seq,
                    ref,
                )
            return
        link = entry_hash_v2(*fields, row.book or "", _digest(record))
        report.chained += 1
        if link != row.hash:
            problem = _record_problem(record, row)
            if problem is not None:
                if ref not in bad_operations:
                    bad_operations.add(ref)
                    report.add(
                        Kind.OPERATION,
                        f"{where}: its operation record {ref} does not match: "
                        f"{problem}",
                        row.account_id,
                        row.id,
                        row.seq,
                        ref,
                    )
                return
        cause = (
            f"the entry, its operation record {ref}, or an entry before it "
            "was changed, removed or moved"
        )
    if link != row.hash and row.account_id not in broken:
        broken.add(row.account_id)
        report.add(
            Kind.CHAIN,
            f"account {row.account_id}: chain broken at entry {row.id} "
            f"(seq {row.seq}): stored hash {row.hash[:16]}, recomputed {link[:16]} "
            f"({cause})",
            row.account_id,
            row.id,
            row.seq,
        )


@functools.lru_cache(maxsize=4096)  # an operation's entries are often near
def _digest(record: StoredOperation) -> str:
    return operation_digest(
        record.uid, record.op_id, record.fingerprint, record.result, record.created_at
    )


def _record_problem(record: StoredOperation, row: TrailRow | None = None) -> str | None:
    """What is inconsistent in an operation record, alone or with one of its
    entries: the result and fingerprint must name the record's own uid, id and
    time, the result the fingerprint's operation (and the entry's id)."""
    try:
        result = json.loads(record.result)
        fingerprint = json.loads(record.fingerprint)
        ids = result["entry_ids"]
        checks = (
            ("the result's uid", result["uid"], record.uid),
            ("the result's id", result["id"], record.op_id),
            ("the result's created_at", result["created_at"], record.created_at),
            ("the result's op", result["op"], fingerprint["op"]),
            ("the fingerprint's uid", fingerprint["uid"], record.uid),
            ("the fingerprint's id", fingerprint["id"], record.op_id),
        )
    except (ValueError, KeyError, TypeError) as exc:
        return f"its result or fingerprint is not a record ({exc!r})"
    for name, value, expected in checks:
        if value != expected:
            return f"{name} is {value!r}, the record's is {expected!r}"
    # An entry dated otherwise than its consistent record is the entry's edit
    # (a chain finding); one its result does not name, the result's or the
    # entry's reference.
    if row is not None and (not isinstance(ids, list) or row.id not in ids):
        return (
            f"its result lists entries {ids!r}, not entry {row.id} (the result "
            "or the entry's reference to it was changed)"
        )
    return None


def _check_known(
    by_id: Mapping[str, Account],
    known: Mapping[str, Checkpoint],
    last_run: VerifyRun | None,
    report: VerifyReport,
) -> None:
    """Compare the accounts with what the last clean verify stored of them."""
    if last_run is not None:
        root = root_of(known.values())
        if root != last_run.root:
            report.add(
                Kind.CHECKPOINT,
                f"the verify checkpoints were changed after the verify at "
                f"{last_run.verified_at}: their root is {root[:16]}, that run "
                f"stored {last_run.root[:16]}",
            )

    for mark in known.values():
        account = by_id.get(mark.account_id)
        was = f"{mark.uid} {mark.type} {mark.currency}"
        if account is None:
            report.add(
                Kind.ACCOUNT_GONE,
                f"account {mark.account_id} ({was}) was verified at seq "
                f"{mark.seq} with balance {mark.balance} and no longer exists "
                "(deleted, with its entries unless orphan entries are reported)",
                mark.account_id,
            )
            continue
        key = account.key
        now = f"{key.uid} {key.type.value} {key.currency}"
        if mark.uid is not None and was != now:
            report.add(
                Kind.ACCOUNT_KEY,
                f"account {account.id}: verified as {was}, now {now}",
                account.id,
            )
        if account.seq < mark.seq:
            report.add(
                Kind.CHECKPOINT,
                f"account {account.id} ({now}): stored seq {account.seq}, the last "
                f"verify saw seq {mark.seq} (its newest entries were removed)",
                account.id,
            )
        elif account.base_seq == mark.seq and account.base_hash != mark.hash:
            report.add(
                Kind.CHECKPOINT,
                f"account {account.id} ({now}): base hash {account.base_hash[:16]} "
                f"at seq {mark.seq}, the last verify saw {mark.hash[:16]} there",
                account.id,
            )


def _check_account(
    account: Account, seen: tuple[int, Decimal], report: VerifyReport
) -> None:
    count, total = seen
    key = account.key
    name = f"account {account.id} ({key.uid} {key.type.value} {key.currency})"
    if account.balance != total:
        report.add(
            Kind.BALANCE,
            f"{name}: stored balance {account.balance}, entries sum to {total}",
            account.id,
        )
    if account.seq != count:
        report.add(
            Kind.SEQ, f"{name}: stored seq {account.seq}, last entry seq {count}",
            account.id,
        )  # fmt: skip
    if account.balance != MONEY.add(account.available, account.holds):
        report.add(
            Kind.BALANCE,
            f"{name}: balance {account.balance} != available {account.available} "
            f"+ holds {account.holds}",
            account.id,
        )
    if min(account.balance, account.available, account.holds) < ZERO:
        report.add(
            Kind.BALANCE, f"{name}: negative balance, available or holds", account.id
        )
