"""Random sequences of every operation against a real database.

A Hypothesis state machine applies deposits, withdrawals, transfers, sub-account
transfers, trades (fees in the quote, the base or KCS), holds, releases and
adjustments, valid or not, plus idempotent replays and conflicting reuses of an
id. It predicts each outcome with a small model of the balances. After every
step it reads the database and checks:

- every account's balance is the sum of its entries (in minus out), each
  entry's balance is the running sum, and seq counts 1, 2, 3... without a gap;
- balance = available + holds, and none of them is negative;
- accounts, entries and stored operations are exactly what the model expects;
- a rejected operation wrote nothing at all.

Each run gets a fresh database: a copy of a migrated SQLite file, or a clone of
the PostgreSQL template.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import shutil
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from kuledger.domain.errors import (
    BackdatedOperation,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidAmount,
    InvalidInput,
    NotASubAccount,
    UnknownAccountType,
    UnknownBizType,
    UnknownCurrency,
    UnknownOperation,
    UnknownUser,
)
from kuledger.services import ledger, users
from kuledger.services.ledger import OperationResult
from kuledger.services.verify import verify
from kuledger.storage import migrate, schema
from tests.conftest import PostgresDatabases, make_container
from tests.fakes import FakeClock

RUNS = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

PARENTS = ("u1", "u2")
SUB, SUB_PARENT = "s1", "u1"
GHOST = "ghost"  # never created
CURRENCIES = ("USDT", "BTC", "KCS")  # all with 8 decimals
KINDS = ("main", "trade")
FUNDABLE = [(u, k, c) for u in (*PARENTS, SUB) for k in KINDS for c in CURRENCIES]
ZERO = Decimal(0)
UNIT = Decimal("0.00000001")

Key = tuple[str, str, str]  # (uid, account type, currency)
Change = tuple[Key, Decimal]  # a posting: + credit, - debit
HoldMove = tuple[Key, Decimal, bool]  # (key, amount, release?)


@dataclass(frozen=True)
class Expected:
    """What the model believes about one account."""

    balance: Decimal = ZERO
    available: Decimal = ZERO
    holds: Decimal = ZERO
    entries: int = 0
    last_at: int = 0


# -- strategies ---------------------------------------------------------------


def _render(units: int, places: int, padded: bool = False) -> str:
    """units * 10**-places as a plain decimal string (padded: trailing zeros)."""
    text = (
        f"{units // 10**places}.{units % 10**places:0{places}d}"
        if places
        else str(units)
    )
    if padded:
        text += "00" if "." in text else ".00"
    return text


amounts = st.builds(_render, st.integers(1, 10**6), st.integers(0, 8), st.booleans())
prices = st.builds(_render, st.integers(1, 10**7), st.integers(0, 12))
sizes = st.builds(_render, st.integers(1, 10**9), st.integers(0, 8))
fees = st.sampled_from(["0", "0.001", "0.5", "3"])
uids = st.sampled_from((*PARENTS, SUB) * 2 + (GHOST,))
kinds = st.sampled_from(KINDS)
currencies = st.sampled_from(CURRENCIES)
# How much of the available balance to move: None draws a random amount;
# "all+1" is one unit more than there is.
shares = st.sampled_from([None, "half", "half", "all", "all+1"])
# When: None is "now" by the clock; "backdated" is just before the latest entry.
ats = st.sampled_from([None, None, None, "now", "latest", "backdated"])
BAD_AMOUNTS = [
    "1e5",
    "1E5",
    "-1",
    "+1",
    "NaN",
    "Infinity",
    "0",
    "0.000",
    "1.123456789",
    "",
    " 1",
    "1,5",
    "١",
    1.5,
    True,
    None,
]
MONEY_OPS = ("deposit", "withdrawal", "transfer", "sub_transfer", "hold", "adjust")
# A valid payload of each kind, less uid and id, for the rules that break one field.
_MALFORMABLE: dict[str, dict[str, Any]] = {
    "deposit": {"currency": "USDT", "amount": "1"},
    "withdrawal": {"currency": "USDT", "amount": "1"},
    "transfer": {"currency": "USDT", "amount": "1", "from": "main", "to": "trade"},
    "sub_transfer": {
        "currency": "USDT",
        "amount": "1",
        "sub_uid": SUB,
        "direction": "to_sub",
    },
    "hold": {"account": "main", "currency": "USDT", "amount": "1"},
    "adjust": {
        "account": "main",
        "currency": "USDT",
        "amount": "1",
        "direction": "in",
        "biz_type": "Rewards",
    },
    "trade": {
        "symbol": "BTC-USDT",
        "side": "buy",
        "price": "1",
        "size": "1",
        "order_id": "o",
        "trade_id": "t",
    },
}
# Not bad after all: a zero fee, and a price (18 decimals allowed).
_VALID_TRADE_NUMBERS = {("fee", "0"), ("fee", "0.000"), ("price", "1.123456789")}


# -- the machine --------------------------------------------------------------


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, url: str, cleanup: Callable[[], None]) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.container = make_container(url, self.clock)
        self.cleanup = cleanup
        assert self._read() == ({}, [], 0), "the run did not get a fresh database"
        for uid in PARENTS:
            users.create_user(self.container.uow, self.clock, uid=uid)
        users.create_user(
            self.container.uow, self.clock, uid=SUB, parent_uid=SUB_PARENT
        )
        self.model: dict[Key, Expected] = {}
        self.accepted: list[tuple[dict[str, Any], OperationResult]] = []
        self.ids = itertools.count(1)

    def teardown(self) -> None:
        try:
            reader = self.container.reader
            report = verify(reader.all_accounts(), reader.entry_trail())
            assert report.ok, report.problems
        finally:
            self.container.close()
            self.cleanup()

    @initialize(
        amounts=st.lists(
            st.builds(_render, st.integers(10**3, 10**10), st.integers(0, 8)),
            min_size=len(FUNDABLE),
            max_size=len(FUNDABLE),
        ),
    )
    def fund_every_account(self, amounts):
        """One batch of deposits into every account the users may touch."""
        payloads = [
            self._payload(
                "deposit", uid, {"currency": c, "amount": a, "account": kind}, None, []
            )
            for (uid, kind, c), a in zip(FUNDABLE, amounts, strict=True)
        ]
        results = ledger.apply_batch(self.container.uow, payloads, self.clock)
        for key, payload, result in zip(FUNDABLE, payloads, results, strict=True):
            credit = [(key, Decimal(payload["amount"]))]
            updated, error = self._predict(credit, [], self.clock.now)
            assert error is None
            self._accepted(payload, result, updated, len(credit))

    # -- operations -----------------------------------------------------------

    @rule(uid=uids, kind=kinds, currency=currencies, amount=amounts, at=ats)
    def deposit(self, uid, kind, currency, amount, at):
        key = (uid, kind, currency)
        fields = {"currency": currency, "amount": amount, "account": kind}
        self._submit(
            self._payload("deposit", uid, fields, at, [key]),
            postings=[(key, Decimal(amount))],
            error=UnknownUser if uid == GHOST else None,
        )

    @rule(
        uid=uids,
        kind=kinds,
        currency=currencies,
        amount=amounts,
        share=shares,
        fee_part=st.sampled_from([None, 0, Decimal("0.1"), 1, 2]),
        at=ats,
    )
    def withdrawal(self, uid, kind, currency, amount, share, fee_part, at):
        key = (uid, kind, currency)
        amount = self._share_of(key, share, amount)
        fields = {"currency": currency, "amount": amount, "account": kind}
        error: type[Exception] | None = None
        if fee_part is not None:
            fee = (Decimal(amount) * fee_part).quantize(UNIT)
            fields["fee"] = format(fee, "f")
            if fee > Decimal(amount):
                error = InvalidInput
        self._submit(
            self._payload("withdrawal", uid, fields, at, [key]),
            postings=[(key, -Decimal(amount))],
            error=error or (UnknownUser if uid == GHOST else None),
        )

    @rule(
        uid=uids,
        currency=currencies,
        to_trade=st.booleans(),
        amount=amounts,
        share=shares,
        at=ats,
    )
    def transfer(self, uid, currency, to_trade, amount, share, at):
        source, target = ("main", "trade") if to_trade else ("trade", "main")
        out, into = (uid, source, currency), (uid, target, currency)
        amount = self._share_of(out, share, amount)
        fields = {"currency": currency, "amount": amount, "from": source, "to": target}
        self._submit(
            self._payload("transfer", uid, fields, at, [out, into]),
            postings=[(out, -Decimal(amount)), (into, Decimal(amount))],
            error=UnknownUser if uid == GHOST else None,
        )

    @rule(
        pair=st.sampled_from(
            [(SUB_PARENT, SUB)] * 5
            + [("u2", SUB), (SUB_PARENT, "u2"), (SUB_PARENT, GHOST), ("u1", "u1")]
        ),
        to_sub=st.booleans(),
        from_kind=kinds,
        to_kind=kinds,
        currency=currencies,
        amount=amounts,
        share=shares,
        at=ats,
    )
    def sub_transfer(
        self, pair, to_sub, from_kind, to_kind, currency, amount, share, at
    ):
        parent, sub = pair
        sender, receiver = (parent, sub) if to_sub else (sub, parent)
        out, into = (sender, from_kind, currency), (receiver, to_kind, currency)
        amount = self._share_of(out, share, amount)
        fields = {
            "currency": currency,
            "amount": amount,
            "sub_uid": sub,
            "direction": "to_sub" if to_sub else "to_parent",
            "from": from_kind,
            "to": to_kind,
        }
        error: type[Exception] | None = None
        if parent == sub:
            error = InvalidInput
        elif GHOST in pair:
            error = UnknownUser
        elif sub != SUB or parent != SUB_PARENT:
            error = NotASubAccount
        self._submit(
            self._payload("sub_transfer", parent, fields, at, [out, into]),
            postings=[(out, -Decimal(amount)), (into, Decimal(amount))],
            error=error,
        )

    @rule(
        uid=uids,
        base=st.sampled_from(["BTC", "KCS"]),
        buy=st.booleans(),
        price=prices,
        size=sizes,
        fit=st.booleans(),
        fee=fees,
        fee_in=st.sampled_from(["quote", "base", "KCS", None]),
        at=ats,
    )
    def trade(self, uid, base, buy, price, size, fit, fee, fee_in, at):
        quote = "USDT"
        if fit:
            size = self._fitting_size(uid, base, quote, buy, price) or size
        fee_currency = {"quote": quote, "base": base, "KCS": "KCS", None: quote}[fee_in]
        fields = {
            "symbol": f"{base}-{quote}",
            "side": "buy" if buy else "sell",
            "price": price,
            "size": size,
            "order_id": f"o{self.clock.now}",
            "trade_id": f"t{next(self.ids)}",
        }
        if fee_in is not None:
            fields |= {"fee": fee, "fee_currency": fee_currency}
        changes, error = _trade_changes(
            buy,
            Decimal(price),
            Decimal(size),
            Decimal(fee if fee_in else 0),
            base,
            quote,
            fee_currency,
        )
        postings = [((uid, "trade", code), change) for code, change in changes]
        self._submit(
            self._payload("trade", uid, fields, at, [k for k, _ in postings]),
            postings=postings,
            error=error or (UnknownUser if uid == GHOST else None),
        )

    @rule(
        uid=uids,
        kind=kinds,
        currency=currencies,
        amount=amounts,
        share=shares,
        release=st.booleans(),
        at=ats,
    )
    def hold_or_release(self, uid, kind, currency, amount, share, release, at):
        key = (uid, kind, currency)
        if release and share is not None:
            held = self._account(key).holds
            amount = _share(held, share) if held > 0 else amount
        else:
            amount = self._share_of(key, share, amount)
        fields = {"account": kind, "currency": currency, "amount": amount}
        self._submit(
            self._payload("release" if release else "hold", uid, fields, at, []),
            holds=[(key, Decimal(amount), release)],
            error=UnknownUser if uid == GHOST else None,
        )

    @precondition(lambda self: any(e.holds > 0 for e in self.model.values()))
    @rule(pick=st.integers(0, 10**6), share=st.sampled_from(["half", "all", "all+1"]))
    def release_held_funds(self, pick, share):
        held = sorted(key for key, e in self.model.items() if e.holds > 0)
        key = held[pick % len(held)]
        uid, kind, currency = key
        amount = _share(self.model[key].holds, share)
        fields = {"account": kind, "currency": currency, "amount": amount}
        self._submit(
            self._payload("release", uid, fields, None, []),
            holds=[(key, Decimal(amount), True)],
        )

    @rule(
        uid=uids,
        kind=kinds,
        currency=currencies,
        amount=amounts,
        share=shares,
        incoming=st.booleans(),
        biz_type=st.sampled_from(
            ["KuCoin Bonus", "REWARDS", "fee rebate", "Staking", "Lottery"]
        ),
        with_fee=st.booleans(),
        at=ats,
    )
    def adjust(
        self, uid, kind, currency, amount, share, incoming, biz_type, with_fee, at
    ):
        key = (uid, kind, currency)
        if not incoming:
            amount = self._share_of(key, share, amount)
        fields = {
            "account": kind,
            "currency": currency,
            "amount": amount,
            "direction": "in" if incoming else "out",
            "biz_type": biz_type,
            "context": {"note": "adjusted"},
        }
        if with_fee:
            fields["fee"] = amount
        change = Decimal(amount) if incoming else -Decimal(amount)
        error: type[Exception] | None = None
        if biz_type == "Lottery":
            error = UnknownBizType
        elif uid == GHOST:
            error = UnknownUser
        self._submit(
            self._payload("adjust", uid, fields, at, [key]),
            postings=[(key, change)],
            error=error,
        )

    @rule(
        op=st.sampled_from([*MONEY_OPS, "trade"]),
        bad=st.sampled_from(BAD_AMOUNTS),
        trade_field=st.sampled_from(["price", "size", "fee"]),
    )
    def bad_amount_is_rejected(self, op, bad, trade_field):
        if op == "trade" and (trade_field, bad) in _VALID_TRADE_NUMBERS:
            return
        fields = dict(_MALFORMABLE[op])
        fields[trade_field if op == "trade" else "amount"] = bad
        self._submit(
            self._payload(op, SUB_PARENT, fields, None, []), error=InvalidAmount
        )

    @rule(
        case=st.sampled_from(
            [
                ("op", "Deposit", UnknownOperation),
                ("op", "refund", UnknownOperation),
                ("op", "", UnknownOperation),
                ("memo", "x", InvalidInput),
                ("clientOid", "x", InvalidInput),
                ("currency", "usdt", UnknownCurrency),
                ("account", "savings", UnknownAccountType),
                ("uid", "", InvalidInput),
                ("at", -1, InvalidInput),
                ("at", 1.5, InvalidInput),
            ]
        )
    )
    def malformed_operation_is_rejected(self, case):
        field, value, error = case
        payload = self._payload("deposit", "u2", _MALFORMABLE["deposit"], None, [])
        self._submit(payload | {field: value}, error=error)

    # -- idempotency --------------------------------------------------------------

    @precondition(lambda self: self.accepted)
    @rule(pick=st.integers(0, 10**6), pad_amount=st.booleans())
    def replay_returns_the_first_result_and_writes_nothing(self, pick, pad_amount):
        payload, first = self.accepted[pick % len(self.accepted)]
        payload = dict(payload)
        if pad_amount and isinstance(payload.get("amount"), str):
            payload["amount"] += "0" if "." in payload["amount"] else ".0"
        before = self._snapshot()
        again = ledger.apply(self.container.uow, payload, self.clock)
        assert again == replace(first, replayed=True)
        assert self._snapshot() == before

    @precondition(lambda self: self.accepted)
    @rule(pick=st.integers(0, 10**6))
    def reusing_an_id_with_another_payload_conflicts(self, pick):
        payload, _ = self.accepted[pick % len(self.accepted)]
        payload = dict(payload)
        if "amount" in payload:
            payload["amount"] = format(Decimal(payload["amount"]) + 1, "f")
        else:
            payload["order_id"] += "-other"
        self._submit(payload, error=IdempotencyConflict)

    @rule(ms=st.integers(0, 10_000))
    def time_passes(self, ms):
        self.clock.advance(ms)

    # -- invariants ---------------------------------------------------------------

    @invariant()
    def the_ledger_is_consistent_and_as_the_model_expects(self):
        # One read of the database per step, for both checks: it keeps the
        # PostgreSQL run well under a minute.
        accounts, trail, operations = self._read()
        self._check_every_account_is_the_sum_of_its_entries(accounts, trail)
        self._check_the_database_holds_what_the_model_expects(
            accounts, trail, operations
        )

    def _check_every_account_is_the_sum_of_its_entries(
        self, accounts: dict[str, tuple[Any, ...]], trail: list[tuple[Any, ...]]
    ) -> None:
        by_account: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for row in trail:
            by_account[row[0]].append(row)
        assert set(by_account) <= set(accounts), "an entry without an account"
        for account_id, account in accounts.items():
            _, balance, available, holds, seq, last_at = account
            total = ZERO
            rows = by_account.get(account_id, [])
            for number, (
                _,
                entry_seq,
                amount,
                direction,
                entry_balance,
                _,
            ) in enumerate(rows, start=1):
                assert entry_seq == number, f"seq gap in {account_id}"
                total += amount if direction == "in" else -amount
                assert entry_balance == total, f"running balance of {account_id}"
            assert balance == total
            assert seq == len(rows)
            assert last_at == (rows[-1][5] if rows else 0)
            assert balance == available + holds
            assert min(balance, available, holds) >= 0

    def _check_the_database_holds_what_the_model_expects(
        self,
        accounts: dict[str, tuple[Any, ...]],
        trail: list[tuple[Any, ...]],
        operations: int,
    ) -> None:
        found = {
            key: Expected(balance, available, holds, seq, last_at)
            for key, balance, available, holds, seq, last_at in accounts.values()
        }
        assert found == self.model
        assert len(trail) == sum(e.entries for e in self.model.values())
        assert operations == len(self.accepted)

    # -- helpers ------------------------------------------------------------------

    def _payload(
        self,
        op: str,
        uid: str,
        fields: dict[str, Any],
        at: str | None,
        keys: Sequence[Key],
    ) -> dict[str, Any]:
        payload = {"op": op, "uid": uid, "id": f"op-{next(self.ids)}", **fields}
        latest = max((self._account(k).last_at for k in keys), default=0)
        if at == "now":
            payload["at"] = self.clock.now
        elif at == "latest" and latest:
            payload["at"] = latest
        elif at == "backdated" and latest:
            payload["at"] = latest - 1
        return payload

    def _account(self, key: Key) -> Expected:
        return self.model.get(key, Expected())

    def _share_of(self, key: Key, share: str | None, amount: str) -> str:
        available = self._account(key).available
        return _share(available, share) if share and available > 0 else amount

    def _fitting_size(
        self, uid: str, base: str, quote: str, buy: bool, price: str
    ) -> str | None:
        """A size this user can afford: half their quote, or half their base."""
        if buy:
            funds = self._account((uid, "trade", quote)).available / 2
            size = (funds / Decimal(price)).quantize(UNIT, ROUND_FLOOR)
        else:
            size = (self._account((uid, "trade", base)).available / 2).quantize(
                UNIT, ROUND_FLOOR
            )
        return format(size, "f") if size > 0 else None

    def _submit(
        self,
        payload: dict[str, Any],
        postings: Iterable[Change] = (),
        holds: Iterable[HoldMove] = (),
        error: type[Exception] | None = None,
    ) -> None:
        """Apply `payload` and check the outcome the model predicts."""
        postings, holds = list(postings), list(holds)
        at = payload.get("at", self.clock.now)
        updated: dict[Key, Expected] | None = None
        if error is None:
            updated, error = self._predict(postings, holds, at)
        if error is not None:
            before = self._snapshot()
            with pytest.raises(error) as info:
                ledger.apply(self.container.uow, payload, self.clock)
            assert type(info.value) is error, f"{payload}: {info.value!r}"
            assert self._snapshot() == before, f"{payload} was rejected but wrote"
            return
        assert updated is not None
        result = ledger.apply(self.container.uow, payload, self.clock)
        assert result.created_at == at
        self._accepted(payload, result, updated, len(postings))

    def _accepted(
        self,
        payload: dict[str, Any],
        result: OperationResult,
        updated: dict[Key, Expected],
        postings: int,
    ) -> None:
        assert not result.replayed
        assert len(result.entry_ids) == postings
        self.model.update(updated)
        self.accepted.append((payload, result))

    def _predict(
        self, postings: list[Change], holds: list[HoldMove], at: int
    ) -> tuple[dict[Key, Expected], type[Exception] | None]:
        """The accounts after the operation, or the error it must raise."""
        latest = max((self._account(k).last_at for k, _ in postings), default=0)
        if at < latest:
            return {}, BackdatedOperation
        working: dict[Key, Expected] = {}
        for key, change in postings:
            account = working.get(key, self._account(key))
            if -change > account.available:
                return {}, InsufficientBalance
            working[key] = replace(
                account,
                balance=account.balance + change,
                available=account.available + change,
                entries=account.entries + 1,
                last_at=at,
            )
        for key, amount, release in holds:
            account = working.get(key, self._account(key))
            if amount > (account.holds if release else account.available):
                return {}, InsufficientBalance
            signed = -amount if release else amount
            working[key] = replace(
                account,
                available=account.available - signed,
                holds=account.holds + signed,
            )
        return working, None

    def _read(self) -> tuple[dict[str, tuple[Any, ...]], list[tuple[Any, ...]], int]:
        """(accounts by id, the entry trail by account and seq, operation count)."""
        with self.container.engine.connect() as conn:
            accounts = {
                row[0]: (
                    (row[1], row[2], row[3]),
                    Decimal(row[4]),
                    Decimal(row[5]),
                    Decimal(row[6]),
                    row[7],
                    row[8],
                )
                for row in conn.exec_driver_sql(
                    "SELECT id, uid, type, currency, balance, available, holds, seq, "
                    "last_entry_at FROM accounts"
                )
            }
            trail = [
                (row[0], row[1], Decimal(row[2]), row[3], Decimal(row[4]), row[5])
                for row in conn.exec_driver_sql(
                    "SELECT account_id, seq, amount, direction, balance, created_at "
                    "FROM entries ORDER BY account_id, seq"
                )
            ]
            operations = conn.execute(sa.text("SELECT COUNT(*) FROM operations"))
            return accounts, trail, int(operations.scalar_one())

    def _snapshot(self) -> tuple[object, ...]:
        accounts, trail, operations = self._read()
        return tuple(sorted(accounts.items())), len(trail), operations


def _share(available: Decimal, share: str) -> str:
    amount = {
        "half": (available / 2).quantize(UNIT, ROUND_FLOOR),
        "all": available,
        "all+1": available + UNIT,
    }[share]
    return format(max(amount, UNIT), "f")


def _trade_changes(
    buy: bool,
    price: Decimal,
    size: Decimal,
    fee: Decimal,
    base: str,
    quote: str,
    fee_currency: str,
) -> tuple[list[tuple[str, Decimal]], type[Exception] | None]:
    """The balance change per currency, with funds rounded against the user."""
    exact = Fraction(price) * Fraction(size) * 10**8
    units = math.ceil(exact) if buy else math.floor(exact)
    if units == 0:
        return [], InvalidInput
    funds = Decimal(units) * UNIT
    changes = {base: size if buy else -size, quote: -funds if buy else funds}
    incoming = changes.get(fee_currency, ZERO)
    if incoming > 0 and fee >= incoming:
        return [], InvalidInput
    changes[fee_currency] = changes.get(fee_currency, ZERO) - fee
    return [(code, change) for code, change in changes.items() if change != 0], None


# -- running it on each engine --------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that every run copies."""
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    container = make_container(f"sqlite:///{path}")
    migrate.upgrade(container.engine)
    container.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")  # fold the WAL into the file
    return path


def test_random_operations_keep_the_sqlite_ledger_consistent(sqlite_template):
    def new_machine() -> LedgerMachine:
        folder = Path(tempfile.mkdtemp(prefix="kuledger-stateful-"))
        shutil.copyfile(sqlite_template, folder / "ledger.db")
        return LedgerMachine(
            f"sqlite:///{folder / 'ledger.db'}", lambda: shutil.rmtree(folder)
        )

    run_state_machine_as_test(new_machine, settings=RUNS)


@pytest.mark.slow
@pytest.mark.postgres
def test_random_operations_keep_the_postgresql_ledger_consistent(
    postgres_databases: PostgresDatabases,
):
    # One clone of the template, emptied before every run: as fresh as a new
    # clone, without the ~1 s that creating and dropping a database costs.
    url = postgres_databases.new()
    # Durability on a crash is not under test: commits need not wait for fsync.
    fast = f"{url}?options=-c%20synchronous_commit%3Doff"

    def new_machine() -> LedgerMachine:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "TRUNCATE users, accounts, entries, operations, api_keys CASCADE"
            )
            conn.execute(f"ALTER SEQUENCE {schema.ENTRY_ID_SEQUENCE} RESTART")
        return LedgerMachine(fast, lambda: None)

    run_state_machine_as_test(new_machine, settings=RUNS)
