"""Crash safety: a real `kuledger serve` is SIGKILLed again and again while
client threads send transfers, and restarted on the same port and database.

Every request whose answer was lost is sent again (same clientOid, freshly
signed) until it is answered; some "one-shot" requests are abandoned instead.
At the end, read straight from the database: every acknowledged transfer is
there exactly once with the orderId the client was given, every abandoned one
is either wholly there (both legs) or wholly absent, no other entry exists,
balances equal the seed plus the applied transfers, and `kuledger verify`
passes.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.domain.users import Permission
from kuledger.services import keys as key_service
from kuledger.services import users as user_service
from kuledger.services.ledger import OperationResult
from kuledger.services.transfers import order_id
from kuledger_client.signing import auth_headers
from tests.support.server import ApiUser
from tests.support.shared import ENGINES, fresh_database
from tests.system.restartable import RestartableServer

INNER = "/api/v2/accounts/inner-transfer"
FLEX = "/api/v3/accounts/universal-transfer"
KILLS = 12  # each a restart of the server process: a dozen is many crash points
THREADS = 4
MAX_OPS_PER_THREAD = 3000
ONE_SHOT_SHARE = 0.15
SEED = Decimal("1000000")
PARENT, SUB = "crash-parent", "crash-sub"


@dataclass
class Transfer:
    client_oid: str
    path: str
    body: str
    legs: tuple[tuple[str, str, str], tuple[str, str, str]]  # (uid, type, dir)
    amount: Decimal
    one_shot: bool
    order_id: str | None = None  # set when acknowledged
    attempts: int = 0


def _transfer(rng: random.Random, one_shot: bool) -> Transfer:
    oid = uuid.uuid4().hex
    amount = Decimal(rng.randint(1, 1000)) / 100
    kind = rng.choice(("to_trade", "to_main", "to_sub", "to_parent"))
    fields: dict[str, str]
    if kind in ("to_trade", "to_main"):
        source, target = ("main", "trade") if kind == "to_trade" else ("trade", "main")
        path, fields = INNER, {"from": source, "to": target}
        legs = ((PARENT, source, "out"), (PARENT, target, "in"))
    else:
        path = FLEX
        fields = {"fromAccountType": "MAIN", "toAccountType": "MAIN"}
        if kind == "to_sub":
            fields |= {"type": "PARENT_TO_SUB", "toUserId": SUB}
            legs = ((PARENT, "main", "out"), (SUB, "main", "in"))
        else:
            fields |= {"type": "SUB_TO_PARENT", "fromUserId": SUB}
            legs = ((SUB, "main", "out"), (PARENT, "main", "in"))
    body = json.dumps(
        {"clientOid": oid, "currency": "USDT", "amount": str(amount), **fields}
    )
    return Transfer(oid, path, body, legs, amount, one_shot)


def _post(
    client: httpx.Client, base: str, user: ApiUser, path: str, body: str
) -> httpx.Response:
    ts = str(int(time.time() * 1000))
    headers = auth_headers(
        user.key, user.secret, user.passphrase, ts, "POST", path, body, 3
    )
    headers["Content-Type"] = "application/json"
    return client.post(base + path, headers=headers, content=body)


def _seed(env: dict[str, str]) -> ApiUser:
    container = Container(Settings.from_env(env))
    try:
        user_service.create_user(container.uow, container.clock, uid=PARENT)
        user_service.create_user(
            container.uow, container.clock, uid=SUB, parent_uid=PARENT
        )
        key = key_service.create_key(
            container.uow,
            container.box,
            container.clock,
            uid=PARENT,
            permissions=Permission.parse_list("General,Spot,FlexTransfers"),
        )
    finally:
        container.close()
    return ApiUser(PARENT, key.key, key.secret, key.passphrase)


SEEDED = {(PARENT, "main"): SEED, (PARENT, "trade"): SEED, (SUB, "main"): SEED}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_transfers_survive_sigkill(
    request: pytest.FixtureRequest, tmp_path: Path, engine: str
) -> None:
    url = fresh_database(request, engine, tmp_path)
    server = RestartableServer(url, tmp_path, {"KULEDGER_RATELIMIT": "off"})
    user = _seed(server.env)
    deposits = [
        {
            "op": "deposit",
            "uid": uid,
            "id": f"seed-{uid}-{account}",
            "currency": "USDT",
            "amount": str(amount),
            "account": account,
        }
        for (uid, account), amount in SEEDED.items()
    ]
    server.cli.post(deposits)

    started = time.monotonic()
    server.start()
    killer_done = threading.Event()
    problems: list[str] = []
    transfers: list[Transfer] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        rng = random.Random(number)
        with httpx.Client(timeout=10) as http:
            for _ in range(MAX_OPS_PER_THREAD):
                if killer_done.is_set() or problems:
                    return
                item = _transfer(rng, rng.random() < ONE_SHOT_SHARE)
                with lock:
                    transfers.append(item)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and item.attempts < 500:
                    item.attempts += 1
                    try:
                        response = _post(
                            http, server.base_url, user, item.path, item.body
                        )
                    except httpx.TransportError:
                        if item.one_shot:
                            break  # abandoned: its fate is read from the database
                        time.sleep(rng.uniform(0.02, 0.1))
                        continue
                    answer = response.json()
                    if response.status_code != 200 or answer.get("code") != "200000":
                        problems.append(f"{item.client_oid}: {response.text}")
                        return
                    item.order_id = answer["data"]["orderId"]
                    break
                else:
                    problems.append(f"{item.client_oid}: never answered")
                    return

    killer = threading.Thread(
        target=server.kill_repeatedly,
        args=(KILLS, random.Random(7), (0.3, 1.2), 0.2, problems, killer_done),
    )
    threads = [killer]
    threads += [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "a driver thread hung"
    assert not problems, problems[:5]
    assert server.starts == 1 + KILLS

    # A replay after all the restarts still answers with the original orderId.
    acked = [t for t in transfers if t.order_id is not None]
    with httpx.Client(timeout=10) as http:
        for item in acked[:: max(1, len(acked) // 40)]:
            answer = _post(http, server.base_url, user, item.path, item.body).json()
            assert answer == {"code": "200000", "data": {"orderId": item.order_id}}
    server.stop()

    container = Container(Settings.from_env(server.env))
    try:
        with container.uow() as uow:
            stored = uow.ledger.find_operations(
                (PARENT, f"transfer:{t.client_oid}") for t in transfers
            )
        entries = {
            e.id: e
            for uid in (PARENT, SUB)
            for e in container.reader.entries(uid, None, None, None, None)
        }
        accounts = {
            (a.key.uid, a.key.type.value): a.balance
            for uid in (PARENT, SUB)
            for a in container.reader.accounts(uid)
            if a.key.currency == "USDT"
        }
    finally:
        container.close()

    expected: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal, SEEDED)
    claimed: set[int] = set()
    applied = recovered = lost = 0
    for item in transfers:
        record = stored.get((PARENT, f"transfer:{item.client_oid}"))
        if record is None:
            assert item.order_id is None, f"acknowledged {item.client_oid} is missing"
            lost += 1
            continue
        result = OperationResult.from_json(record.result, replayed=True)
        if item.order_id is None:
            recovered += 1
        else:
            assert order_id(result.created_at, result.entry_ids[0]) == item.order_id
        applied += 1
        assert len(result.entry_ids) == 2, result
        for entry_id, (uid, account, direction) in zip(
            result.entry_ids, item.legs, strict=True
        ):
            entry = entries.get(entry_id)
            assert entry is not None, f"{item.client_oid}: entry {entry_id} missing"
            assert (entry.uid, entry.account_type.value, entry.direction.value) == (
                uid,
                account,
                direction,
            )
            assert entry.amount == item.amount
            assert entry_id not in claimed, f"entry {entry_id} used twice"
            claimed.add(entry_id)
            sign = 1 if direction == "in" else -1
            expected[(uid, account)] += sign * item.amount
    # Nothing else was written: the seed deposits plus two legs per transfer.
    assert len(entries) == len(deposits) + 2 * applied
    seeds = [entries[i] for i in sorted(set(entries) - claimed)]
    assert len(seeds) == len(deposits)
    assert {(e.uid, e.account_type.value, e.amount) for e in seeds} == {
        (uid, account, amount) for (uid, account), amount in SEEDED.items()
    }
    assert accounts == {key: Decimal(v) for key, v in expected.items()}
    report = json.loads(server.cli.run("verify", "--json"))  # exits 1 unless ok
    assert report["ok"] is True, report

    elapsed = time.monotonic() - started
    print(
        f"\n{engine}: {KILLS} SIGKILLs survived, {len(transfers)} transfers "
        f"({len(acked)} acknowledged, {recovered} abandoned but applied, "
        f"{lost} abandoned and absent), {sum(t.attempts for t in transfers)} "
        f"requests, {len(entries)} entries checked in {elapsed:.0f}s"
    )
