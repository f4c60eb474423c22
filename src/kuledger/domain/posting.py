"""Applying a plan to accounts: the one place balances and entries are computed."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import replace

from kuledger.domain.accounts import Account, AccountKey, book_of
from kuledger.domain.entries import Direction, Entry
from kuledger.domain.errors import BackdatedOperation
from kuledger.domain.operations import Plan


def apply_plan(
    plan: Plan,
    accounts: MutableMapping[AccountKey, Account],
    at: int,
    entry_ids: Iterator[int],
) -> list[Entry]:
    """Apply `plan` at time `at`, updating `accounts` in place; return the entries.

    Raises (leaving `accounts` untouched) when a debit or hold exceeds what is
    available, or when `at` is before the latest entry of an account it posts to.
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
    for hold in plan.holds:
        account = working[hold.key]
        working[hold.key] = (
            account.released(hold.amount) if hold.release else account.held(hold.amount)
        )
    accounts.update(working)
    return [
        Entry(
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
        for posting, account in drafts
    ]
