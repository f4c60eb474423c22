"""Deterministic, realistic synthetic history for demos and benchmarks.

A few users are very active (Zipf-like weights), most are not. The generator
simulates balances so every operation it emits is valid: deposits into main,
transfers between main and trade, trades with fees (some paid in KCS, which
makes a third leg), withdrawals and bonuses, spread evenly over `days`.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from itertools import accumulate
from typing import Any

from kuledger.domain.times import DAY_MS

_PRICES = {
    "BTC": Decimal("60000"),
    "ETH": Decimal("3000"),
    "KCS": Decimal("10"),
    "SOL": Decimal("150"),
    "XRP": Decimal("0.6"),
    "DOGE": Decimal("0.15"),
    "TRX": Decimal("0.12"),
    "ADA": Decimal("0.45"),
    "USDC": Decimal("1"),
}
_BONUSES = ("KuCoin Bonus", "Referral Bonus", "Rewards", "Fee Rebate", "Airdrop/Fork")
_FEE_RATE = Decimal("0.001")
_PRECISION = {"XRP": 6, "TRX": 6, "ADA": 6}


@dataclass(frozen=True)
class SeedPlan:
    users: int
    entries: int
    days: int
    seed: int
    end_at: int

    @property
    def uid_prefix(self) -> str:
        return f"seed-{self.seed}-"

    def uid(self, index: int) -> str:
        return f"{self.uid_prefix}{index:06d}"


def _q(value: Decimal, currency: str) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-_PRECISION.get(currency, 8)), ROUND_FLOOR)


def _s(value: Decimal) -> str:
    return format(value.normalize(), "f")


def generate(plan: SeedPlan) -> Iterator[tuple[dict[str, Any], int]]:
    """Yield (operation payload, entries it writes) until plan.entries is reached."""
    rng = random.Random(plan.seed)
    # Cumulative, computed once: choices(weights=...) re-adds every user's
    # weight on each call, which made generating 20,000 users' history slower
    # than writing it. The draws are the same.
    cum_weights = list(accumulate(1 / (i + 1) ** 1.1 for i in range(plan.users)))
    users = range(plan.users)
    balances: dict[tuple[int, str, str], Decimal] = defaultdict(Decimal)
    start = plan.end_at - plan.days * DAY_MS
    expected_ops = max(1, plan.entries // 2)
    step = max(1, (plan.end_at - start) // expected_ops)
    at, written, counter = start, 0, 0
    while written < plan.entries:
        counter += 1
        at = min(plan.end_at, at + rng.randint(0, 2 * step))
        user = rng.choices(users, cum_weights=cum_weights)[0]
        payload, count = _next_operation(rng, plan, user, balances, counter)
        payload["at"] = at
        written += count
        yield payload, count


def _next_operation(
    rng: random.Random,
    plan: SeedPlan,
    user: int,
    balances: dict[tuple[int, str, str], Decimal],
    counter: int,
) -> tuple[dict[str, Any], int]:
    uid, op_id = plan.uid(user), f"seed-{counter}"
    roll = rng.random()
    usdt_main = balances[(user, "main", "USDT")]
    usdt_trade = balances[(user, "trade", "USDT")]
    if usdt_main + usdt_trade < 50 or roll < 0.08:
        amount = _q(
            Decimal(rng.randint(100, 20_000)) + Decimal(rng.randint(0, 99)) / 100,
            "USDT",
        )
        balances[(user, "main", "USDT")] += amount
        ctx = {"orderId": f"{counter:024x}", "txId": f"0x{rng.getrandbits(128):032x}"}
        return {
            "op": "deposit",
            "uid": uid,
            "id": op_id,
            "currency": "USDT",
            "amount": _s(amount),
            "context": ctx,
        }, 1
    if usdt_main >= 20 and (roll < 0.2 or usdt_trade < 20):
        amount = _q(usdt_main * Decimal(rng.randint(30, 90)) / 100, "USDT")
        balances[(user, "main", "USDT")] -= amount
        balances[(user, "trade", "USDT")] += amount
        return {
            "op": "transfer",
            "uid": uid,
            "id": op_id,
            "currency": "USDT",
            "amount": _s(amount),
            "from": "main",
            "to": "trade",
        }, 2
    if roll < 0.25 and usdt_main >= 10:
        amount = _q(usdt_main * Decimal(rng.randint(5, 40)) / 100, "USDT")
        fee = min(Decimal("1"), _q(amount / 2, "USDT"))
        balances[(user, "main", "USDT")] -= amount
        return {
            "op": "withdrawal",
            "uid": uid,
            "id": op_id,
            "currency": "USDT",
            "amount": _s(amount),
            "fee": _s(fee),
            "context": {"orderId": f"{counter:024x}"},
        }, 1
    if roll < 0.29:
        amount = _q(Decimal(rng.randint(1, 500)) / 100, "USDT")
        balances[(user, "main", "USDT")] += amount
        return {
            "op": "adjust",
            "uid": uid,
            "id": op_id,
            "account": "main",
            "currency": "USDT",
            "amount": _s(amount),
            "direction": "in",
            "biz_type": rng.choice(_BONUSES),
        }, 1
    return _trade(rng, uid, op_id, user, balances, counter)


def _trade(
    rng: random.Random,
    uid: str,
    op_id: str,
    user: int,
    balances: dict[tuple[int, str, str], Decimal],
    counter: int,
) -> tuple[dict[str, Any], int]:
    base = rng.choice(tuple(_PRICES))
    price = _PRICES[base] * (1 + Decimal(rng.randint(-500, 500)) / 10_000)
    price = price.quantize(Decimal("0.0001"))
    held = balances[(user, "trade", base)]
    usdt = balances[(user, "trade", "USDT")]
    selling = held * price > 5 and rng.random() < 0.45
    if selling:
        size = _q(held * Decimal(rng.randint(20, 100)) / 100, base)
    else:
        size = _q(
            usdt * Decimal(rng.randint(5, 40)) / 100 / (price * Decimal("1.01")), base
        )
    funds = _q(price * size, "USDT")
    legs = 2
    fee_currency = "USDT"
    fee = _q(funds * _FEE_RATE, "USDT")
    kcs = balances[(user, "trade", "KCS")]
    if base != "KCS" and kcs > 1 and rng.random() < 0.3:
        fee_currency, fee, legs = (
            "KCS",
            _q(funds * _FEE_RATE * Decimal("0.8") / 10, "KCS"),
            3,
        )
    if size <= 0 or funds <= fee or (fee_currency == "KCS" and fee >= kcs):
        # too small to trade: top the trade account up instead
        amount = Decimal(rng.randint(50, 500))
        balances[(user, "trade", "USDT")] += amount
        return {
            "op": "deposit",
            "uid": uid,
            "id": op_id,
            "currency": "USDT",
            "amount": _s(amount),
            "account": "trade",
        }, 1
    funds_exact = price * size
    if selling:
        balances[(user, "trade", base)] -= size
        balances[(user, "trade", "USDT")] += _q(funds_exact, "USDT")
    else:
        balances[(user, "trade", base)] += size
        balances[(user, "trade", "USDT")] -= _q(funds_exact, "USDT") + Decimal(
            "0.00000001"
        )
    balances[(user, "trade", fee_currency)] -= fee
    return {
        "op": "trade",
        "uid": uid,
        "id": op_id,
        "account": "trade",
        "symbol": f"{base}-USDT",
        "side": "sell" if selling else "buy",
        "price": _s(price),
        "size": _s(size),
        "fee": _s(fee),
        "fee_currency": fee_currency,
        "order_id": f"{counter:024x}",
        "trade_id": f"{counter * 7:024x}",
    }, legs


Batch = tuple[list[dict[str, Any]], int]  # operations, and the entries they write


def batches(plan: SeedPlan, size: int, skip: int = 0) -> Iterator[Batch]:
    """generate(plan) in lists of `size` operations (the last one shorter).

    The first `skip` operations (applied by an earlier, interrupted run) are
    generated but not returned: the draws and simulated balances after them
    must be the same. Then the first batch is ([], entries they wrote).
    """
    batch: list[dict[str, Any]] = []
    pending = 0
    for index, (payload, count) in enumerate(generate(plan)):
        pending += count
        if index < skip:
            if index == skip - 1:
                yield [], pending
                pending = 0
            continue
        batch.append(payload)
        if len(batch) == size:
            yield batch, pending
            batch, pending = [], 0
    if batch:
        yield batch, pending
