"""Importing an export (`kuledger export`, JSONL or CSV) as a user's history.

Two passes over the file, so memory does not grow with it:

1. Check every line: its fields, currency, account type and business type, and
   that each entry's `balance` is the running balance of its account (the
   previous entry's balance plus or minus its amount). Nothing is written if
   any line fails; the error names the line.
2. Apply each entry as an `adjust` operation, oldest first, in batches through
   the bulk path. Operation ids come from the entry ids, so importing a file
   again replays them and changes nothing.

An export that starts after an account's first entry (the retention window)
opens that account with one `ASSETS_TRANSFERRED_IN_AFTER_UPGRADING` entry for
the balance before the file's first entry, so the final balances equal the
source's.

KuCoin's classic (spot) ledger answers `balance` "0" on every item. Where all
of a ledger's balances in the file are 0 and they do not hold as running
balances, they are rebuilt from the amounts instead, each account from zero
(ImportPlan.rebuilt names those ledgers).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kuledger.domain import biztypes
from kuledger.domain.accounts import AccountType
from kuledger.domain.errors import InvalidInput, LedgerError
from kuledger.domain.money import MONEY, ZERO, Currency, parse_amount, to_wire
from kuledger.services import ledger, users
from kuledger.services.ledger import BatchError
from kuledger.services.ports import Clock, EventSink, LedgerReader, UnitOfWorkFactory

# The CSV columns of `kuledger export --format csv`, in order (docs/export.md).
CSV_COLUMNS = (
    "ledger",
    "id",
    "createdAt",
    "currency",
    "amount",
    "fee",
    "balance",
    "accountType",
    "bizType",
    "direction",
    "context",
)
IMPORTABLE = ("spot", "hf", "margin-hf")
OPENING_BIZ_TYPE = "ASSETS_TRANSFERRED_IN_AFTER_UPGRADING"
MAX_ENTRY_ID = 96  # keeps "import:<ledger>:<id>:opening" within 128 characters
MAX_CONTEXT = 4096
BATCH_SIZE = 2000
_DECODER = json.JSONDecoder(parse_float=Decimal)

_LEDGER_OF_TYPE = {
    AccountType.TRADE_HF: "hf",
    AccountType.MARGIN_V2: "margin-hf",
    AccountType.ISOLATED_V2: "margin-hf",
}


class ImportRejected(LedgerError):
    """Raised when a line of the file is malformed or inconsistent; nothing of
    the file has been written."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ImportItem:
    """One ledger entry of the file, its fields as text as written there."""

    line: int
    ledger: str
    id: str
    created_at: int
    currency: str
    amount: str
    fee: str
    balance: str
    account_type: str
    biz_type: str
    direction: str
    context: str


# -- reading -----------------------------------------------------------------


def read_items(lines: Iterable[str], fmt: str) -> Iterator[ImportItem]:
    """The items of an export in `fmt` ("jsonl" or "csv"), in file order."""
    return _read_csv(lines) if fmt == "csv" else _read_jsonl(lines)


def _read_jsonl(lines: Iterable[str]) -> Iterator[ImportItem]:
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            item = _DECODER.decode(text)
        except ValueError as exc:
            raise ImportRejected(number, f"malformed JSON: {exc}") from None
        if not isinstance(item, dict):
            raise ImportRejected(number, "a line must be a JSON object")
        if "accountType" not in item and "accountEquity" in item:
            raise ImportRejected(
                number, "futures ledger items cannot be imported (no account trail)"
            )
        yield _item(number, item, item.get("ledger"))


def _read_csv(lines: Iterable[str]) -> Iterator[ImportItem]:
    reader = csv.reader(iter(lines))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise ImportRejected(1, f"malformed CSV: {exc}") from None
    if tuple(header) != CSV_COLUMNS:
        raise ImportRejected(1, f"the header must be {','.join(CSV_COLUMNS)}")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportRejected(reader.line_num, f"malformed CSV: {exc}") from None
        if not row:
            continue
        if len(row) != len(CSV_COLUMNS):
            raise ImportRejected(
                reader.line_num,
                f"expected {len(CSV_COLUMNS)} columns, found {len(row)}",
            )
        if row[0] == "futures":
            raise ImportRejected(
                reader.line_num,
                "futures ledger rows cannot be imported (no account trail)",
            )
        yield _item(reader.line_num, dict(zip(CSV_COLUMNS, row, strict=True)), row[0])


def _item(number: int, raw: dict[str, Any], ledger_name: object) -> ImportItem:
    def text(name: str, *, numeric_ok: bool = False) -> str:
        value = raw.get(name)
        if numeric_ok and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise ImportRejected(number, f"{name} must be a string, got {value!r}")
        return value

    entry_id = text("id", numeric_ok=True)
    if not entry_id or len(entry_id) > MAX_ENTRY_ID:
        raise ImportRejected(number, f"id must be 1..{MAX_ENTRY_ID} characters")
    created = text("createdAt", numeric_ok=True)
    if not created.isdigit() or len(created) > 13:
        raise ImportRejected(number, f"createdAt must be milliseconds, got {created!r}")
    account_type = text("accountType")
    if ledger_name in (None, ""):
        try:
            ledger_name = _LEDGER_OF_TYPE.get(AccountType(account_type.lower()), "spot")
        except ValueError:
            ledger_name = "spot"  # the type itself is rejected when checked
    if ledger_name not in IMPORTABLE:
        raise ImportRejected(
            number,
            f"ledger must be one of {', '.join(IMPORTABLE)}, not {ledger_name!r}",
        )
    return ImportItem(
        line=number,
        ledger=str(ledger_name),
        id=entry_id,
        created_at=int(created),
        currency=text("currency"),
        amount=text("amount"),
        fee=text("fee"),
        balance=text("balance"),
        account_type=account_type,
        biz_type=text("bizType"),
        direction=text("direction"),
        context=text("context"),
    )


# -- pass 1: checking --------------------------------------------------------

AccountRef = tuple[AccountType, str]  # (type, currency)


@dataclass
class _Trail:
    ledger: str
    first_line: int
    first_op: str
    opening: Decimal
    balance: Decimal
    last_at: int
    rebuilt: Decimal = ZERO  # the running sum of the amounts, from zero


@dataclass
class ImportPlan:
    """What pass 1 learned: each account's opening and final balance."""

    entries: int = 0
    first_at: int | None = None
    last_at: int | None = None
    trails: dict[AccountRef, _Trail] = field(default_factory=dict)
    ledgers: set[str] = field(default_factory=set)
    rebuilt: set[str] = field(default_factory=set)  # ledgers of all-zero balances

    @property
    def openings(self) -> dict[AccountRef, Decimal]:
        return {k: t.opening for k, t in self.trails.items() if t.opening != ZERO}


def op_id(item: ImportItem) -> str:
    return f"import:{item.ledger}:{item.id}"


def _signed(item: ImportItem, amount: Decimal) -> Decimal:
    return amount if item.direction == "in" else -amount


def check(
    items: Iterable[ImportItem],
    currencies: dict[str, Currency],
    *,
    opening_balances: bool = True,
) -> ImportPlan:
    """Pass 1: raise ImportRejected at the first bad line, else the plan.

    A balance that does not follow is held back while every balance of its
    ledger so far is 0: if they all are, the ledger's balances are rebuilt
    from the amounts (KuCoin's classic ledger), else it is the error."""
    plan = ImportPlan()
    zeros: dict[str, bool] = {}  # ledger: every balance so far is 0
    held: dict[str, ImportRejected] = {}  # ledger: its first inconsistency
    negative: dict[str, ImportRejected] = {}  # ledger: where a rebuilt one is < 0
    for item in items:
        ref, amount, balance = _check_fields(item, currencies)
        zero = zeros.get(item.ledger, True) and balance == ZERO
        zeros[item.ledger] = zero
        if not zero and item.ledger in held:
            raise held[item.ledger]
        problem = _follow(plan, item, ref, amount, balance, opening_balances)
        if problem is not None:
            if not zero:
                raise problem
            held.setdefault(item.ledger, problem)
        trail = plan.trails[ref]
        trail.rebuilt = MONEY.add(trail.rebuilt, _signed(item, amount))
        if trail.rebuilt < ZERO and item.ledger not in negative:
            negative[item.ledger] = ImportRejected(
                item.line,
                f"the {item.ledger} ledger's balances are all 0 in this file, and "
                f"rebuilt from the amounts {item.account_type} {item.currency} "
                "would go below zero here: the file does not start at the "
                "account's first entry",
            )
        plan.entries += 1
        plan.ledgers.add(item.ledger)
        if plan.first_at is None or item.created_at < plan.first_at:
            plan.first_at = item.created_at
        if plan.last_at is None or item.created_at > plan.last_at:
            plan.last_at = item.created_at
    for ledger_name in held:  # every balance of these ledgers is 0
        if ledger_name in negative:
            raise negative[ledger_name]
        plan.rebuilt.add(ledger_name)
        for trail in plan.trails.values():
            if trail.ledger == ledger_name:
                trail.opening, trail.balance = ZERO, trail.rebuilt
    return plan


def _follow(
    plan: ImportPlan,
    item: ImportItem,
    ref: AccountRef,
    amount: Decimal,
    balance: Decimal,
    opening_balances: bool,
) -> ImportRejected | None:
    """Extend the account's trail by `item`; the problem if its balance does
    not follow (an entry out of order is rejected at once)."""
    trail = plan.trails.get(ref)
    if trail is None:
        opening = MONEY.subtract(balance, _signed(item, amount))
        plan.trails[ref] = _Trail(
            item.ledger, item.line, op_id(item), opening, balance, item.created_at
        )
        if opening < ZERO or (opening != ZERO and not opening_balances):
            return ImportRejected(
                item.line,
                f"balance {item.balance} of {item.account_type} {item.currency} "
                f"implies an opening balance of {to_wire(opening)}",
            )
        return None
    if item.created_at < trail.last_at:
        raise ImportRejected(
            item.line,
            f"createdAt {item.created_at} is before the previous entry of "
            f"{item.account_type} {item.currency}: entries must be oldest first",
        )
    expected = MONEY.add(trail.balance, _signed(item, amount))
    trail.balance, trail.last_at = balance, item.created_at
    if expected != balance:
        return ImportRejected(
            item.line,
            f"balance {item.balance} of {item.account_type} {item.currency} "
            f"is not the running balance {to_wire(expected)} (line "
            f"{trail.first_line} opened the account)",
        )
    return None


def _check_fields(
    item: ImportItem, currencies: dict[str, Currency]
) -> tuple[AccountRef, Decimal, Decimal]:
    try:
        account_type = AccountType.parse(item.account_type.lower(), "accountType")
        currency = currencies.get(item.currency)
        if currency is None:
            raise InvalidInput("currency", f"unknown currency {item.currency!r}")
        amount = parse_amount(item.amount, currency, "amount")
        fee = parse_amount(item.fee, currency, "fee", allow_zero=True)
        balance = parse_amount(item.balance, currency, "balance", allow_zero=True)
        biztypes.lookup(item.biz_type, "bizType")
    except InvalidInput as exc:
        raise ImportRejected(item.line, exc.message) from None
    if fee > amount:
        raise ImportRejected(item.line, "fee is part of amount, so cannot exceed it")
    if item.direction not in ("in", "out"):
        raise ImportRejected(
            item.line, f"direction must be in or out: {item.direction!r}"
        )
    if len(item.context) > MAX_CONTEXT:
        raise ImportRejected(item.line, f"context is over {MAX_CONTEXT} characters")
    return (account_type, item.currency), amount, balance


# -- pass 2: applying --------------------------------------------------------


def _payloads(
    items: Iterable[ImportItem], uid: str, plan: ImportPlan
) -> Iterator[tuple[int, dict[str, Any]]]:
    opened: set[AccountRef] = set()
    for item in items:
        ref = (AccountType(item.account_type.lower()), item.currency)
        common = {
            "op": "adjust",
            "uid": uid,
            "at": item.created_at,
            "account": ref[0].value,
            "currency": item.currency,
        }
        if ref not in opened:
            opened.add(ref)
            opening = plan.trails[ref].opening
            if opening != ZERO:
                yield (
                    item.line,
                    {
                        **common,
                        "id": op_id(item) + ":opening",
                        "amount": to_wire(opening),
                        "direction": "in",
                        "biz_type": OPENING_BIZ_TYPE,
                        "context": {"import": "opening balance", "before": item.id},
                    },
                )
        yield (
            item.line,
            {
                **common,
                "id": op_id(item),
                "amount": item.amount,
                "fee": item.fee,
                "direction": item.direction,
                "biz_type": item.biz_type,
                "context": item.context,
            },
        )


@dataclass(frozen=True, slots=True)
class ImportReport:
    entries: int  # lines of the file
    openings: int  # opening-balance entries the import adds
    written: int  # operations applied now (the rest were already there)
    replayed: int
    accounts: dict[AccountRef, Decimal]  # final balances
    first_at: int | None
    last_at: int | None
    user_created: bool
    rebuilt: tuple[str, ...] = ()  # ledgers whose balances were rebuilt


def import_history(
    uow_factory: UnitOfWorkFactory,
    reader: LedgerReader,
    clock: Clock,
    uid: str,
    source: Callable[[], Iterable[ImportItem]],
    *,
    opening_balances: bool = True,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    prepare: Callable[[int, int], object] | None = None,
    events: EventSink | None = None,
) -> ImportReport:
    """Check the file (`source()` opens it anew for each pass), then apply it
    as `uid`'s history, creating the user if missing. `prepare(first, last)`
    runs between the passes with the file's time span (storage may need it).
    Each batch's balance changes go to `events` once it has committed."""
    plan = check(source(), reader.currencies(), opening_balances=opening_balances)
    _check_target(uow_factory, reader, uid, plan)
    if prepare is not None and plan.first_at is not None and plan.last_at is not None:
        prepare(plan.first_at, plan.last_at)
    created = False
    if reader.user(uid) is None:
        users.create_user(uow_factory, clock, uid=uid, hf="hf" in plan.ledgers)
        created = True
    written = replayed = 0
    batch: list[tuple[int, dict[str, Any]]] = []

    def flush() -> None:
        nonlocal written, replayed
        try:
            payloads = [p for _, p in batch]
            results = ledger.apply_batch(uow_factory, payloads, clock, events)
        except BatchError as exc:
            raise ImportRejected(batch[exc.index][0], str(exc.cause)) from exc
        done = sum(r.replayed for r in results)
        replayed += done
        written += len(results) - done
        if progress is not None:
            progress(sum(1 for _, p in batch if not p["id"].endswith(":opening")))
        batch.clear()

    for line, payload in _payloads(source(), uid, plan):
        batch.append((line, payload))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    finals = _final_balances(reader, uid, plan)
    return ImportReport(
        entries=plan.entries,
        openings=len(plan.openings),
        written=written,
        replayed=replayed,
        accounts=finals,
        first_at=plan.first_at,
        last_at=plan.last_at,
        user_created=created,
        rebuilt=tuple(sorted(plan.rebuilt)),
    )


def _check_target(
    uow_factory: UnitOfWorkFactory, reader: LedgerReader, uid: str, plan: ImportPlan
) -> None:
    """Refuse to mix the file into accounts that have other history: an account
    with entries must already hold this file's first entry (a repeated import)."""
    if reader.user(uid) is None:
        return
    busy = {
        (a.key.type, a.key.currency): a
        for a in reader.accounts(uid)
        if a.seq > 0 and (a.key.type, a.key.currency) in plan.trails
    }
    if not busy:
        return
    refs = {(uid, plan.trails[ref].first_op): ref for ref in busy}
    with uow_factory() as uow:
        known = uow.ledger.find_operations(refs)
    for (_, op), ref in refs.items():
        if (uid, op) not in known:
            trail = plan.trails[ref]
            raise ImportRejected(
                trail.first_line,
                f"user {uid} already has {ref[0].value} {ref[1]} history that is "
                "not from this file; import into a new user",
            )


def _final_balances(
    reader: LedgerReader, uid: str, plan: ImportPlan
) -> dict[AccountRef, Decimal]:
    """The accounts' balances now, checked against the file's last balances."""
    stored = {(a.key.type, a.key.currency): a.balance for a in reader.accounts(uid)}
    finals = {}
    for ref, trail in plan.trails.items():
        balance = stored.get(ref, ZERO)
        if balance != trail.balance:
            raise LedgerError(
                f"after the import {ref[0].value} {ref[1]} holds {to_wire(balance)}, "
                f"the file ends at {to_wire(trail.balance)}: was it changed meanwhile?"
            )
        finals[ref] = balance
    return finals
