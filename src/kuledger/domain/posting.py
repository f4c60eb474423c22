"""Applying a plan to accounts: the one place balances and entries are computed."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import replace

from kuledger.domain.accounts import Account, AccountKey, book_of
from kuledger.domain.chain import entry_hash
from kuledger.domain.entries import Direction, Entry, HoldChange, Posting
from kuledger.domain.errors import BackdatedOperation
from kuledger.domain.events import BalanceChange, relation_event
from kuledger.domain.money import MONEY, ZERO
from kuledger.domain.operations import Plan


def apply_plan(
    plan: Plan,
    accounts: MutableMapping[AccountKey, Account],
    at: int,
    entry_ids: Iterator[int],
    changes: list[BalanceChange] | None = None,
    event_id: str = "",
) -> list[Entry]:
    """Apply `plan` at time `at`, updating `accounts` in place; return the entries.

    Raises (leaving `accounts` untouched) when a debit or hold exceeds what is
    available, or when `at` is before the latest entry of an account it posts to.
    Each balance change is appended to `changes` when given; `event_id` names
    the operation in the hold changes (entries are named by their own ids).
    """
    working = {key: accounts[key] for key in plan.keys}
    latest = max((working[p.key].last_entry_at for p in plan.postings), default=0)
    if at < latest:
        raise BackdatedOperation(at, latest)
    drafts = []
    for posting in plan.postings:
        account = working[posting.key]
        if posting.direction is Direction.IN:
            account = account.credited(posting.amount)
        else:
            account = account.debited(posting.amount)
        account = replace(account, seq=account.seq + 1, last_entry_at=at)
        working[posting.key] = account
        drafts.append((posting, account))
    holds = []
    for hold in plan.holds:
        account = working[hold.key]
        account = (
            account.released(hold.amount) if hold.release else account.held(hold.amount)
        )
        working[hold.key] = account
        holds.append((hold, account))
    heads = {key: working[key].chain_head for key in plan.keys}
    entries = []
    for posting, account in drafts:
        entry = Entry(
            id=next(entry_ids),
            uid=account.key.uid,
            account_id=account.id,
            account_type=account.key.type,
            currency=account.key.currency,
            amount=posting.amount,
            fee=posting.fee,
            balance=account.balance,
            direction=posting.direction,
            biz_code=posting.biz.code,
            created_at=at,
            context=posting.context,
            seq=account.seq,
            book=book_of(account.key.type, posting.biz.code),
        )
        link = chained(heads[posting.key], entry)
        heads[posting.key] = link
        entries.append(replace(entry, hash=link))
    for key, head in heads.items():
        if head != working[key].chain_head:
            working[key] = replace(working[key], chain_head=head)
    accounts.update(working)
    if changes is not None:
        changes.extend(_changes(drafts, entries, holds, at, event_id))
    return entries


def chained(prev: str, entry: Entry) -> str:
    """The hash of `entry` following `prev` in its account's chain."""
    return entry_hash(
        prev,
        entry.id,
        entry.uid,
        entry.account_id,
        entry.account_type.value,
        entry.currency,
        entry.amount,
        entry.fee,
        entry.balance,
        entry.direction.value,
        entry.biz_code,
        entry.created_at,
        entry.context,
        entry.seq,
    )


def _changes(
    drafts: list[tuple[Posting, Account]],
    entries: list[Entry],
    holds: list[tuple[HoldChange, Account]],
    at: int,
    event_id: str,
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
