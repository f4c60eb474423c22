"""Applying a plan to accounts: the one place balances and entries are computed."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import NamedTuple

from kuledger.domain.accounts import Account, AccountKey, book_of
from kuledger.domain.chain import entry_hash_v2
from kuledger.domain.entries import VALUE_OF, Direction, Entry, HoldChange, Posting
from kuledger.domain.errors import BackdatedOperation
from kuledger.domain.events import BalanceChange, relation_event
from kuledger.domain.money import MONEY, ZERO
from kuledger.domain.operations import Plan


class OperationRef(NamedTuple):
    """The operation record an entry is bound to: its key, and its
    `chain.operation_digest`, which the entry's hash covers."""

    uid: str
    op_id: str
    digest: str


def apply_plan(
    plan: Plan,
    accounts: MutableMapping[AccountKey, Account],
    at: int,
    entry_ids: Iterator[int],
    changes: list[BalanceChange] | None,
    event_id: str,
    operation: OperationRef,
) -> list[Entry]:
    """Apply `plan` at time `at`, updating `accounts` in place; return the entries.

    Raises (leaving `accounts` untouched) when a debit or hold exceeds what is
    available, or when `at` is before the latest entry of an account it posts to.
    Each balance change is appended to `changes` when given, in the order it
    was made (releases, then the entries in their order, then holds), so each
    account's last change carries its final state; `event_id` names the
    operation in the hold changes (entries are named by their own ids).
    The entries are chained (v2) with their book and the digest of
    `operation`, the record that writes them (v1 hashes are only verified).
    """
    working = {key: accounts[key] for key in plan.keys}
    for posting in plan.postings:  # a loop: max() over a generator was 4%
        if working[posting.key].last_entry_at > at:
            latest = max(working[p.key].last_entry_at for p in plan.postings)
            raise BackdatedOperation(at, latest)
    releases, holds = [], []
    # Releases come first: a settlement (a withdrawal's success) spends what
    # its release frees. Every other plan has postings or holds, not both.
    for hold in plan.holds:
        if hold.release:
            account = working[hold.key].released(hold.amount)
            working[hold.key] = account
            releases.append((hold, account))
    drafts = []
    for posting in plan.postings:
        account = working[posting.key].posted(
            posting.direction is Direction.IN, posting.amount, at
        )
        working[posting.key] = account
        drafts.append((posting, account))
    for hold in plan.holds:
        if not hold.release:
            account = working[hold.key].held(hold.amount)
            working[hold.key] = account
            holds.append((hold, account))
    heads = {key: working[key].chain_head for key in plan.keys}
    entries = []
    digest, op_uid, op_id = operation.digest, operation.uid, operation.op_id
    for posting, account in drafts:
        key = account.key
        entry_id = next(entry_ids)
        account_type = key.type
        code = posting.biz.code
        book = book_of(account_type, code)
        direction = posting.direction
        link = entry_hash_v2(
            heads[key],
            entry_id,
            key.uid,
            account.id,
            VALUE_OF[account_type],
            key.currency,
            posting.amount,
            posting.fee,
            account.balance,
            VALUE_OF[direction],
            code,
            at,
            posting.context,
            account.seq,
            VALUE_OF[book],
            digest,
        )
        heads[key] = link
        entries.append(
            Entry(
                entry_id,
                key.uid,
                account.id,
                account_type,
                key.currency,
                posting.amount,
                posting.fee,
                account.balance,
                direction,
                code,
                at,
                posting.context,
                account.seq,
                book,
                link,
                op_uid,
                op_id,
            )
        )
    for key, head in heads.items():
        if head != working[key].chain_head:
            working[key] = working[key].chained_to(head)
    accounts.update(working)
    if changes is not None:
        changes.extend(_hold_changes(releases, at, event_id))
        changes.extend(_changes(drafts, entries, at))
        changes.extend(_hold_changes(holds, at, event_id))
    return entries


def _changes(
    drafts: list[tuple[Posting, Account]], entries: list[Entry], at: int
) -> Iterator[BalanceChange]:
    for (posting, account), entry in zip(drafts, entries, strict=True):
        incoming = posting.direction is Direction.IN
        yield BalanceChange(
            account.key.uid,
            account.id,
            account.key.type,
            account.key.currency,
            account.balance,
            account.available,
            account.holds,
            posting.amount if incoming else MONEY.minus(posting.amount),
            ZERO,
            relation_event(account.key.type, posting.biz.code),
            str(entry.id),
            posting.context,
            at,
        )


def _hold_changes(
    holds: list[tuple[HoldChange, Account]], at: int, event_id: str
) -> Iterator[BalanceChange]:
    for hold, account in holds:
        moved = hold.amount if hold.release else MONEY.minus(hold.amount)
        yield BalanceChange(
            account.key.uid,
            account.id,
            account.key.type,
            account.key.currency,
            account.balance,
            account.available,
            account.holds,
            moved,
            MONEY.minus(moved),
            relation_event(account.key.type, None),
            event_id,
            "",
            at,
        )
