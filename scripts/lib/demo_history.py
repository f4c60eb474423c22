"""Print ~30 days of a demo trader's operations as JSON lines for `kuledger post`."""

from __future__ import annotations

import json
import random
import time
from decimal import Decimal

from kuledger.domain.times import DAY_MS

STEP = Decimal("0.00000001")


def main() -> None:
    rng = random.Random(7)
    now = int(time.time() * 1000)
    start = now - 30 * DAY_MS
    ops: list[dict[str, object]] = [
        {
            "op": "deposit",
            "uid": "demo",
            "id": "demo-deposit",
            "currency": "USDT",
            "amount": "25000",
            "at": start,
            "context": {"txId": "0x" + "ab" * 16},
        },
        {
            "op": "transfer",
            "uid": "demo",
            "id": "demo-transfer",
            "currency": "USDT",
            "amount": "20000",
            "from": "main",
            "to": "trade",
            "at": start + 60_000,
        },
    ]
    btc, usdt = Decimal(0), Decimal(20000)
    for i in range(600):
        at = start + 120_000 + i * (29 * DAY_MS // 600)
        price = Decimal(60000 + rng.randint(-3000, 3000))
        if btc > Decimal("0.01") and rng.random() < 0.45:
            side, size = "sell", (btc / 2).quantize(STEP)
        else:
            side, size = "buy", Decimal(rng.randint(1, 50)) / 10000
        funds = price * size
        fee = (funds * Decimal("0.001")).quantize(STEP)
        if side == "buy" and funds + fee + 1 > usdt:
            continue
        btc += size if side == "buy" else -size
        usdt += -(funds + fee) - STEP if side == "buy" else funds - fee - STEP
        ops.append(
            {
                "op": "trade",
                "uid": "demo",
                "id": f"demo-trade-{i}",
                "symbol": "BTC-USDT",
                "side": side,
                "price": str(price),
                "size": str(size),
                "fee": str(fee),
                "order_id": f"{i:024x}",
                "trade_id": f"{i * 7:024x}",
                "at": at,
            }
        )
        if i % 97 == 0:
            ops.append(
                {
                    "op": "adjust",
                    "uid": "demo",
                    "id": f"demo-bonus-{i}",
                    "account": "main",
                    "currency": "USDT",
                    "amount": "5",
                    "direction": "in",
                    "biz_type": "Referral Bonus",
                    "at": at + 1,
                }
            )
    ops.append(
        {
            "op": "withdrawal",
            "uid": "demo",
            "id": "demo-withdrawal",
            "currency": "USDT",
            "amount": "1000",
            "fee": "1",
            "at": now - 3_600_000,
        }
    )
    for op in ops:
        print(json.dumps(op))


if __name__ == "__main__":
    main()
