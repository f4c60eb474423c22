"""Sixteen HTTP clients move money between main and trade of a few hot users
through two server processes on one PostgreSQL database (their rate limiter
shared through a private Redis), while `kuledger post` processes record
trades on the same trade accounts and a reader polls balances through both
servers.

Every answer is 200000 or 200004 (insufficient balance): no deadlock, no 500
reaches a client. No balance read is ever negative. The final balances are
exactly the seed plus every transfer and trade that reported success, and
`kuledger verify` passes.
"""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.domain.users import Permission
from kuledger.services import keys as key_service
from kuledger.services import users as user_service
from kuledger_client.signing import auth_headers
from tests.support.server import KULEDGER, ApiUser, LiveServer
from tests.system.processes import RedisServer, apply_in_process, live_servers

pytestmark = pytest.mark.postgres

HOT = ("hot-1", "hot-2", "hot-3")
CLIENTS = 16
PER_CLIENT = 30
POSTERS = 3
TRADES_PER_POSTER = 60
PRICE = Decimal(100)
INNER = "/api/v2/accounts/inner-transfer"
ACCOUNTS = "/api/v1/accounts"
SEED = {("main", "USDT"): Decimal(500), ("trade", "USDT"): Decimal(300)}
SEED[("trade", "BTC")] = Decimal(3)

Key = tuple[str, str, str]  # uid, account type, currency


def _trades(poster: int, rng: random.Random) -> list[dict[str, Any]]:
    ops = []
    for index in range(TRADES_PER_POSTER):
        size = Decimal(rng.randint(1, 50)) / 100  # funds = 1..50 USDT, exact
        ops.append(
            {
                "op": "trade",
                "uid": rng.choice(HOT),
                "id": f"trade-{poster}-{index}",
                "symbol": "BTC-USDT",
                "side": rng.choice(("buy", "sell")),
                "price": str(PRICE),
                "size": str(size),
                "order_id": f"o{poster}-{index}",
                "trade_id": f"t{poster}-{index}",
                "account": "trade",
            }
        )
    return ops


def _trade_effect(op: dict[str, Any]) -> dict[Key, Decimal]:
    size = Decimal(op["size"])
    sign = 1 if op["side"] == "buy" else -1
    uid = op["uid"]
    return {
        (uid, "trade", "BTC"): sign * size,
        (uid, "trade", "USDT"): -sign * size * PRICE,
    }


@pytest.mark.slow  # seconds of real waiting: the full suite runs it
def test_http_transfers_and_cli_trades_race(
    postgres_url: str, tmp_path: Path, private_redis: RedisServer
) -> None:
    env = {
        "KULEDGER_REDIS_URL": private_redis.url,
        "KULEDGER_RATELIMIT_QUOTAS": "Management=10000000,Spot=10000000",
    }
    started = time.monotonic()
    with live_servers(postgres_url, tmp_path, 2, extra_env=env) as servers:
        users = _spot_users(servers[0])
        apply_in_process(
            servers[0],
            [
                {
                    "op": "deposit",
                    "uid": uid,
                    "id": f"seed-{account}-{currency}",
                    "currency": currency,
                    "amount": str(amount),
                    "account": account,
                }
                for uid in HOT
                for (account, currency), amount in SEED.items()
            ],
        )
        expected: defaultdict[Key, Decimal] = defaultdict(Decimal)
        for uid in HOT:
            for (account, currency), amount in SEED.items():
                expected[(uid, account, currency)] = amount
        lock = threading.Lock()
        codes: Counter[str] = Counter()
        problems: list[str] = []
        stop = threading.Event()
        reads = [0]

        def client(number: int) -> None:
            rng = random.Random(number)
            with httpx.Client(timeout=60) as http:
                for turn in range(PER_CLIENT):
                    server = servers[(number + turn) % 2]
                    uid = rng.choice(HOT)
                    source, target = rng.choice((("main", "trade"), ("trade", "main")))
                    amount = Decimal(rng.randint(100, 15_000)) / 100
                    body = json.dumps(
                        {
                            "clientOid": uuid.uuid4().hex,
                            "currency": "USDT",
                            "amount": str(amount),
                            "from": source,
                            "to": target,
                        }
                    )
                    try:
                        response = _signed(
                            http, server, users[uid], "POST", INNER, body
                        )
                        code = response.json().get("code")
                    except (httpx.HTTPError, ValueError) as exc:
                        problems.append(f"client {number}: {exc!r}")
                        return
                    with lock:
                        codes[code] += 1
                        if code == "200000" and response.status_code == 200:
                            expected[(uid, source, "USDT")] -= amount
                            expected[(uid, target, "USDT")] += amount
                        elif code != "200004":
                            problems.append(f"{response.status_code} {response.text}")

        def reader() -> None:
            deadline = time.monotonic() + 120
            turn = 0
            with httpx.Client(timeout=60) as http:
                while not stop.is_set() and time.monotonic() < deadline:
                    uid = HOT[turn % len(HOT)]
                    server = servers[turn % 2]
                    turn += 1
                    response = _signed(http, server, users[uid], "GET", ACCOUNTS)
                    body = response.json()
                    if body.get("code") != "200000":
                        problems.append(f"reader: {response.text}")
                        return
                    for account in body["data"]:
                        for field in ("balance", "available", "holds"):
                            if Decimal(account[field]) < 0:
                                problems.append(f"{uid} negative: {account}")
                    reads[0] += 1
                    time.sleep(0.005)

        rng = random.Random(42)
        batches = [_trades(n, rng) for n in range(POSTERS)]
        files = []
        for number, ops in enumerate(batches):
            path = tmp_path / f"trades{number}.jsonl"
            path.write_text("".join(json.dumps(op) + "\n" for op in ops))
            files.append(path)

        watcher = threading.Thread(target=reader)
        watcher.start()
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
        clients = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in clients:
            thread.start()
        outputs = []
        try:
            for poster in posters:
                outputs.append(poster.communicate(timeout=120))
            for thread in clients:
                thread.join(timeout=120)
        finally:
            for poster in posters:
                if poster.poll() is None:
                    poster.kill()
                    poster.wait()
            stop.set()
            watcher.join(timeout=60)
        assert not any(t.is_alive() for t in clients), "a client hung"
        assert not problems, problems[:5]

        traded = refused = 0
        for ops, (stdout, stderr) in zip(batches, outputs, strict=True):
            results = [json.loads(line) for line in stdout.splitlines()]
            assert len(results) == len(ops), stderr
            for op, result in zip(ops, results, strict=True):
                if result["ok"]:
                    traded += 1
                    for key, change in _trade_effect(op).items():
                        expected[key] += change
                else:
                    assert "insufficient" in result["error"].lower(), result
                    refused += 1

        final: dict[Key, Decimal] = {}
        for uid in HOT:
            for server in servers:
                response = _signed(server.http, server, users[uid], "GET", ACCOUNTS)
                for account in response.json()["data"]:
                    key = (uid, account["type"], account["currency"])
                    final[key] = Decimal(account["balance"])
        assert {k: v for k, v in final.items() if v} == {
            k: v for k, v in expected.items() if v
        }
        report = json.loads(servers[0].cli.run("verify", "--json"))
        assert report["ok"] is True, report
    assert codes["200000"] > 0 and reads[0] > 0
    print(
        f"\n{sum(codes.values())} transfers ({codes['200000']} ok, "
        f"{codes['200004']} insufficient), {traded} trades ok, {refused} refused, "
        f"{reads[0]} balance reads, {time.monotonic() - started:.0f}s"
    )


def _signed(
    http: httpx.Client,
    server: LiveServer,
    user: ApiUser,
    method: str,
    path: str,
    body: str = "",
) -> httpx.Response:
    ts = str(int(time.time() * 1000))
    headers = auth_headers(
        user.key, user.secret, user.passphrase, ts, method, path, body, 3
    )
    headers["Content-Type"] = "application/json"
    return http.request(
        method,
        server.base_url + path,
        headers=headers,
        content=body.encode() if body else None,
    )


def _spot_users(server: LiveServer) -> dict[str, ApiUser]:
    """The hot users, each with a key that may transfer (Spot)."""
    container = Container(Settings.from_env(server.cli.env))
    try:
        users = {}
        for uid in HOT:
            user_service.create_user(container.uow, container.clock, uid=uid)
            key = key_service.create_key(
                container.uow,
                container.box,
                container.clock,
                uid=uid,
                permissions=Permission.parse_list("General,Spot"),
            )
            users[uid] = ApiUser(uid, key.key, key.secret, key.passphrase)
        return users
    finally:
        container.close()
