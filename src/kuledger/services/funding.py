"""Deposits and withdrawals as use cases. Each state change is one
transaction: the record's new status and (when a balance moves) its one
ledger operation commit together or not at all. Replaying a change that was
made already (advancing to the status a record has) changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol

from kuledger.domain import funding as f
from kuledger.domain.accounts import AccountKey, AccountType
from kuledger.domain.currencies import chain_of
from kuledger.domain.errors import IdempotencyConflict, InvalidInput, UnknownUser
from kuledger.domain.events import BalanceChange
from kuledger.domain.funding import DepositAddress, DepositRecord, WithdrawalRecord
from kuledger.domain.money import MONEY, ZERO, Currency, parse_amount
from kuledger.domain.operations import Deposit, Hold, Operation, Release
from kuledger.services import ledger
from kuledger.services.ports import (
    Clock,
    EventSink,
    FundingStore,
    LedgerReader,
    UnitOfWork,
)
from kuledger.services.verify import Kind, VerifyReport

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    uid: str
    currency: str | None = None
    status: str | None = None
    start_at: int | None = None
    end_at: int | None = None
    offset: int = 0
    limit: int = 50


class FundingQueries(Protocol):
    def addresses(
        self, uid: str, currency: str, chain: str | None
    ) -> list[DepositAddress]: ...
    def deposits(self, f: HistoryFilter) -> tuple[int, list[DepositRecord]]: ...
    def withdrawals(self, f: HistoryFilter) -> tuple[int, list[WithdrawalRecord]]: ...
    def withdrawal(self, uid: str, record_id: str) -> WithdrawalRecord | None: ...
    def unbooked_successes(self) -> list[tuple[str, str, str, str]]: ...


FundingUowFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True, slots=True)
class Funding:
    """What the use cases share: the unit of work, the clock, and where the
    balance changes of a commit are published (the balance stream). Every
    entry point names its sink, None only where nobody can listen."""

    uow: FundingUowFactory
    clock: Clock
    events: EventSink | None

    @contextmanager
    def transaction(self) -> Iterator[tuple[UnitOfWork, list[BalanceChange]]]:
        changes: list[BalanceChange] = []
        with self.uow() as uow:
            yield uow, changes
            uow.commit()
        if self.events is not None and changes:
            self.events.publish(changes)


def _currency(uow: UnitOfWork, code: str) -> Currency:
    found = uow.ledger.currencies().get(code)
    if found is None:
        raise InvalidInput("currency", f"currency not in the given range: {code!r}")
    return found


def _user(uow: UnitOfWork, uid: str) -> None:
    if uid not in uow.users.get([uid]):
        raise UnknownUser(uid)


def _post(
    uow: UnitOfWork, ops: Operation, clock: Clock, changes: list[BalanceChange]
) -> None:
    ledger.apply_in(uow, [ops], clock, changes)


def default_chain(currency: str) -> str:
    """The chainId used when a request names none: the catalogue's chain."""
    return chain_of(currency).id


def chain_name(currency: str, chain: str) -> str:
    found = chain_of(currency)
    return found.name if found.id == chain else chain.upper()


# --- deposit addresses -------------------------------------------------------


def add_address(
    funding: Funding,
    uid: str,
    currency: str,
    chain: str | None,
    to: AccountType = AccountType.MAIN,
    *,
    address: str | None = None,
    memo: str = "",
    replace_existing: bool = False,
) -> DepositAddress:
    """Assign `address` (the operator) or generate one (the API) for the
    user's currency on `chain`. The API may not replace one: AddressExists."""
    with funding.transaction() as (uow, _):
        code = _currency(uow, currency).code
        _user(uow, uid)
        chain_id = (chain or default_chain(code)).lower()
        store: FundingStore = uow.funding
        existing = store.address(uid, code, chain_id)
        if existing is not None and not replace_existing:
            raise f.AddressExists(code, chain_id)
        made = DepositAddress(
            uid,
            code,
            chain_id,
            address or f.new_address(code, chain_id),
            memo,
            to,
            funding.clock(),
        )
        store.put_address(made)
    return made


# --- deposits ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewDeposit:
    uid: str
    currency: str
    amount: object  # a decimal string, checked against the currency
    chain: str | None = None
    address: str | None = None  # None: the user's address on that chain, if any
    memo: str = ""
    to: AccountType = AccountType.MAIN
    wallet_tx_id: str = ""
    is_inner: bool = False
    remark: str = ""
    status: str = "PROCESSING"
    id: str | None = None  # the idempotency key; None: a new id


def create_deposit(funding: Funding, new: NewDeposit) -> DepositRecord:
    """Record a deposit (PROCESSING, or at once SUCCESS / FAILURE). Creating
    one with an id already used returns it if it is the same deposit."""
    if new.status not in f.DEPOSIT_STATUSES:
        raise InvalidInput("status", f"status must be one of {f.DEPOSIT_STATUSES}")
    with funding.transaction() as (uow, changes):
        currency = _currency(uow, new.currency)
        amount = parse_amount(new.amount, currency)
        _user(uow, new.uid)
        chain = (new.chain or default_chain(currency.code)).lower()
        store: FundingStore = uow.funding
        address = new.address
        if address is None:
            known = store.address(new.uid, currency.code, chain)
            address = known.address if known is not None else ""
        now = funding.clock()
        record = DepositRecord(
            new.id or f.new_id(),
            new.uid,
            currency.code,
            chain,
            address,
            new.memo,
            new.to,
            amount,
            ZERO,
            new.wallet_tx_id,
            new.is_inner,
            new.remark,
            "PROCESSING",
            None,
            now,
            now,
        )
        if new.id is not None:
            earlier = store.deposit(new.id)
            if earlier is not None:
                if (
                    replace(
                        earlier,
                        status="PROCESSING",
                        op_id=None,
                        created_at=now,
                        updated_at=now,
                    )
                    != record
                ):
                    raise IdempotencyConflict(new.uid, new.id)
                return earlier
        store.add_deposit(record)
        if new.status != "PROCESSING":
            record = _settle_deposit(uow, funding.clock, record, new.status, changes)
    return record


def advance_deposit(
    funding: Funding, record_id: str, status: str, wallet_tx_id: str | None = None
) -> DepositRecord:
    """Move a PROCESSING deposit to SUCCESS (its entry is written) or FAILURE.
    Asking for the status it has already is a replay: nothing changes."""
    with funding.transaction() as (uow, changes):
        store: FundingStore = uow.funding
        record = store.deposit(record_id)
        if record is None:
            raise f.FundingNotFound("deposit", record_id)
        if record.status == status:
            return record
        f.check_deposit_move(record_id, record.status, status)
        if wallet_tx_id is not None:
            record = replace(record, wallet_tx_id=wallet_tx_id)
        record = _settle_deposit(uow, funding.clock, record, status, changes)
    return record


def _settle_deposit(
    uow: UnitOfWork,
    clock: Clock,
    record: DepositRecord,
    status: str,
    changes: list[BalanceChange],
) -> DepositRecord:
    op_id = None
    if status == "SUCCESS":
        op_id = f.deposit_op_id(record.id)
        operation = Deposit(
            record.uid,
            op_id,
            None,
            currency=_currency(uow, record.currency),
            amount=record.amount,
            account=record.to,
            context=f.funding_context(record.id, record.wallet_tx_id),
        )
        _post(uow, operation, clock, changes)
    settled = replace(record, status=status, op_id=op_id, updated_at=clock())
    uow.funding.update_deposit(settled)
    return settled


# --- withdrawals -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewWithdrawal:
    uid: str
    currency: str
    amount: object
    address: str
    chain: str | None = None
    memo: str = ""
    is_inner: bool = False
    remark: str = ""
    fee_deduct: str | None = None  # INTERNAL: the fee comes out of `amount`


def withdrawal_fee(currency: str) -> Decimal:
    """What a withdrawal costs, on top of its amount: its chain's fee."""
    return chain_of(currency).withdrawal_fee


def apply_withdrawal(funding: Funding, new: NewWithdrawal) -> WithdrawalRecord:
    """Record a withdrawal (PROCESSING) and hold amount + fee in the user's
    main account, in one transaction; InsufficientBalance holds nothing."""
    if not new.address:
        raise InvalidInput("toAddress", "toAddress is required")
    with funding.transaction() as (uow, changes):
        currency = _currency(uow, new.currency)
        amount = parse_amount(new.amount, currency)
        fee = ZERO if new.is_inner else withdrawal_fee(currency.code)
        if new.fee_deduct == "INTERNAL":
            if amount <= fee:
                raise InvalidInput("amount", "amount must exceed the fee it includes")
            amount = MONEY.subtract(amount, fee)
        now = funding.clock()
        record_id = f.new_id()
        record = WithdrawalRecord(
            record_id,
            new.uid,
            currency.code,
            (new.chain or default_chain(currency.code)).lower(),
            new.address,
            new.memo,
            new.is_inner,
            amount,
            fee,
            new.remark,
            "",
            "PROCESSING",
            "",
            f.hold_op_id(record_id),
            None,
            now,
            now,
        )
        hold = Hold(
            new.uid,
            record.hold_op_id,
            None,
            account=AccountType.MAIN,
            currency=currency,
            amount=record.total,
        )
        _post(uow, hold, funding.clock, changes)
        uow.funding.add_withdrawal(record)
    return record


def cancel_withdrawal(funding: Funding, uid: str, record_id: str) -> WithdrawalRecord:
    """The user's cancel: only while cancellable; the hold is released."""
    with funding.transaction() as (uow, changes):
        record = uow.funding.withdrawal(record_id)
        if record is None or record.uid != uid:
            raise f.FundingNotFound("withdrawal", record_id)
        if record.status not in f.CANCELLABLE:
            raise f.InvalidTransition(
                "withdrawal", record_id, record.status, "cancelled"
            )
        return _finish_withdrawal(
            uow, funding.clock, record, "FAILURE", changes, f.CANCELLED
        )


def advance_withdrawal(
    funding: Funding,
    record_id: str,
    status: str,
    *,
    wallet_tx_id: str | None = None,
    reason: str = "",
) -> WithdrawalRecord:
    """The operator's move: SUCCESS writes the withdrawal and fee entries,
    FAILURE releases the hold, any other status only changes the record.
    Asking for the status it has already changes nothing."""
    with funding.transaction() as (uow, changes):
        record = uow.funding.withdrawal(record_id)
        if record is None:
            raise f.FundingNotFound("withdrawal", record_id)
        if record.status == status:
            return record
        f.check_withdrawal_move(record_id, record.status, status)
        if wallet_tx_id is not None:
            record = replace(record, wallet_tx_id=wallet_tx_id)
        return _finish_withdrawal(uow, funding.clock, record, status, changes, reason)


def _finish_withdrawal(
    uow: UnitOfWork,
    clock: Clock,
    record: WithdrawalRecord,
    status: str,
    changes: list[BalanceChange],
    reason: str,
) -> WithdrawalRecord:
    final_op_id = None
    currency = _currency(uow, record.currency)
    if status == "SUCCESS":
        final_op_id = f.settle_op_id(record.id)
        _post(
            uow,
            f.WithdrawalSettlement(
                record.uid,
                final_op_id,
                None,
                currency=currency,
                amount=record.amount,
                fee=record.fee,
                context=f.funding_context(record.id, record.wallet_tx_id),
            ),
            clock,
            changes,
        )
    elif status == "FAILURE":
        final_op_id = f.release_op_id(record.id)
        release = Release(
            record.uid,
            final_op_id,
            None,
            account=AccountType.MAIN,
            currency=currency,
            amount=record.total,
        )
        _post(uow, release, clock, changes)
    done = replace(
        record,
        status=status,
        final_op_id=final_op_id,
        failure_reason=reason if status == "FAILURE" else "",
        updated_at=clock(),
    )
    uow.funding.update_withdrawal(done)
    return done


@dataclass(frozen=True, slots=True)
class Quota:
    currency: str
    chain: str
    precision: int
    available: Decimal
    fee: Decimal
    min_size: Decimal
    locked: Decimal


def quota(reader: LedgerReader, uid: str, currency: str, chain: str | None) -> Quota:
    """What may be withdrawn now: the main account's available amount."""
    found = reader.currencies().get(currency)
    if found is None:
        raise InvalidInput("currency", f"currency not in the given range: {currency!r}")
    key = AccountKey(uid, AccountType.MAIN, currency)
    available = holds = ZERO
    for account in reader.accounts(uid, currency, AccountType.MAIN):
        if account.key == key:
            available, holds = account.available, account.holds
    fee = withdrawal_fee(currency)
    return Quota(
        currency,
        (chain or default_chain(currency)).lower(),
        found.precision,
        available,
        fee,
        Decimal(1).scaleb(-found.precision),
        holds,
    )


def page_of(offset_page: int, page_size: int) -> tuple[int, int]:
    """(offset, limit) of KuCoin's currentPage and pageSize (10 to 500)."""
    size = min(max(page_size, 10), MAX_PAGE)
    return (max(offset_page, 1) - 1) * size, size


def check_booked(queries: FundingQueries, report: VerifyReport) -> None:
    """`kuledger verify`'s funding check: every SUCCESS deposit and withdrawal
    has its ledger operation (the one that wrote its entries)."""
    for kind, record_id, uid, op_id in queries.unbooked_successes():
        report.add(
            Kind.OPERATION,
            f"{kind} {record_id} of {uid} is SUCCESS but its ledger operation "
            f"{op_id or '(none)'} does not exist",
            operation=(uid, op_id),
        )
