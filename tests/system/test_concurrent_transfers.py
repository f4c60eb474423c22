"""Two servers on one PostgreSQL database while several `kuledger post`
processes move money between main and trade of a few hot users."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import KULEDGER, LiveServer
from tests.system.processes import add_users, apply_in_process, live_servers

pytestmark = pytest.mark.postgres

HOT_USERS = ("hot-a", "hot-b", "hot-c")
DEPOSIT = Decimal("1000")
POSTERS = 3
OPERATIONS = 60  # per poster
ACCOUNTS = "/api/v1/accounts?currency=USDT"


def _operations(poster: int, rng: random.Random) -> list[dict[str, Any]]:
    """Random transfers either way; the first always exceeds the user's total."""
    ops = []
    for index in range(OPERATIONS):
        source, target = rng.choice((("main", "trade"), ("trade", "main")))
        amount = Decimal(rng.randint(100, 60_000)) / 100
        if index == 0:
            amount = DEPOSIT + 1
        ops.append(
            {
                "op": "transfer",
                "uid": rng.choice(HOT_USERS),
                "id": f"poster{poster}-{index}",
                "currency": "USDT",
                "amount": str(amount),
                "from": source,
                "to": target,
            }
        )
    return ops


def _balances(server: LiveServer, user) -> dict[str, Decimal]:
    response = server.signed(user, "GET", ACCOUNTS)
    body = response.json()
    assert body["code"] == "200000", response.text
    balances = {}
    for account in body["data"]:
        assert account["holds"] == "0"
        assert account["available"] == account["balance"]
        balances[account["type"]] = Decimal(account["balance"])
    return balances


def _nonzero(balances: dict[str, Decimal]) -> dict[str, Decimal]:
    """An account never credited may be missing rather than listed at 0."""
    return {kind: amount for kind, amount in balances.items() if amount}


@pytest.mark.slow
def test_concurrent_transfers_two_servers(postgres_url: str, tmp_path: Path):
    env = {"KULEDGER_RATELIMIT": "off"}
    with live_servers(postgres_url, tmp_path, 2, extra_env=env) as servers:
        users = dict(zip(HOT_USERS, add_users(servers[0], *HOT_USERS), strict=True))
        apply_in_process(
            servers[0],
            [
                {
                    "op": "deposit",
                    "uid": uid,
                    "id": "seed",
                    "currency": "USDT",
                    "amount": str(DEPOSIT),
                }
                for uid in HOT_USERS
            ],
        )

        rng = random.Random(20240611)
        batches = [_operations(number, rng) for number in range(POSTERS)]
        files = []
        for number, ops in enumerate(batches):
            path = tmp_path / f"ops{number}.jsonl"
            path.write_text("".join(json.dumps(op) + "\n" for op in ops))
            files.append(path)

        stop = threading.Event()
        problems: list[str] = []
        reads = [0]

        def read_while_posting() -> None:
            """Every snapshot through either server is a consistent one."""
            deadline = time.monotonic() + 60
            turn = 0
            while not stop.is_set() and time.monotonic() < deadline and turn < 2000:
                uid, index = HOT_USERS[turn % len(HOT_USERS)], turn % 2
                turn += 1
                try:
                    balances = _balances(servers[index], users[uid])
                except AssertionError as exc:
                    problems.append(str(exc))
                    return
                if sum(balances.values()) != DEPOSIT or min(balances.values()) < 0:
                    problems.append(f"{uid} via server {index}: {balances}")
                reads[0] += 1
                time.sleep(0.02)  # leave the CPUs mostly to the posters

        reader = threading.Thread(target=read_while_posting)
        reader.start()
        posters = [
            subprocess.Popen(
                [*KULEDGER, "post", "--file", str(path)],
                env=servers[0].cli.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for path in files
        ]
        outputs = []
        try:
            for poster in posters:
                outputs.append(poster.communicate(timeout=60))
        finally:
            for poster in posters:
                if poster.poll() is None:
                    poster.kill()
                    poster.wait()
            stop.set()
            reader.join(timeout=30)

        assert not problems, problems[:5]
        assert reads[0] > 0

        expected = {uid: {"main": DEPOSIT, "trade": Decimal(0)} for uid in HOT_USERS}
        succeeded = failed = 0
        for ops, poster, (stdout, stderr) in zip(
            batches, posters, outputs, strict=True
        ):
            results = [json.loads(line) for line in stdout.splitlines()]
            assert [r["line"] for r in results] == list(range(1, OPERATIONS + 1))
            assert poster.returncode == (0 if all(r["ok"] for r in results) else 1)
            assert "Traceback" not in stderr, stderr
            for op, result in zip(ops, results, strict=True):
                if not result["ok"]:
                    assert "insufficient balance" in result["error"], result
                    failed += 1
                    continue
                assert (result["op"], result["uid"], result["id"]) == (
                    "transfer",
                    op["uid"],
                    op["id"],
                )
                assert not result["replayed"]
                amount = Decimal(op["amount"])
                expected[op["uid"]][op["from"]] -= amount
                expected[op["uid"]][op["to"]] += amount
                succeeded += 1
        assert failed >= POSTERS  # at least the oversized first transfers
        assert failed > POSTERS, "some ordinary transfers should fail too"
        assert succeeded > 0

        for uid in HOT_USERS:
            for server in servers:
                shown = _balances(server, users[uid])
                assert _nonzero(shown) == _nonzero(expected[uid]), uid

        report = json.loads(servers[1].cli.run("verify", "--json"))  # exit 0
        assert report["ok"], report
        assert report["entries"] == len(HOT_USERS) + 2 * succeeded
