"""SIGKILL during group commit: a real `kuledger serve` (group commit on, its
default) takes single operations from many threads on the operator API, so
its writer commits them in batches, and is SIGKILLed and restarted again and
again. Every unanswered operation is sent again (same id) until answered.

Before each kill its /metrics must show commits of several operations (so
the kills do hit group commit). Then, from the database: every acknowledged
operation is there exactly once with the entries its answer named, every
refused one (an overdraft) wrote nothing, no other entry exists, balances
equal the seed plus the applied transfers, and `kuledger verify` passes.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.services import users as user_service
from kuledger.services.ledger import OperationResult
from tests.support.server import free_port
from tests.support.shared import ENGINES, fresh_database
from tests.system.restartable import RestartableServer

KILLS = 5
THREADS = 16
USERS = ("hot", "cold")
SEED = Decimal("1000000")
OVERDRAFT = "100000000"  # more than there is: always refused


@dataclass
class Op:
    payload: dict[str, Any]
    legs: tuple[tuple[str, str, str], tuple[str, str, str]]  # (uid, type, dir)
    answer: dict[str, Any] | None = None  # the acknowledged answer


def _op(rng: random.Random, op_id: str, thread: int) -> Op:
    uid = "hot" if thread % 2 == 0 else rng.choice(USERS)  # half on one account
    source, target = rng.sample(["main", "trade"], 2)
    amount = OVERDRAFT if rng.random() < 0.05 else f"{rng.randint(1, 999)}.25"
    payload = {
        "op": "transfer",
        "uid": uid,
        "id": op_id,
        "currency": "USDT",
        "amount": amount,
        "from": source,
        "to": target,
    }
    return Op(payload, ((uid, source, "out"), (uid, target, "in")))


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_group_committed_operations_survive_sigkill(
    request: pytest.FixtureRequest, tmp_path: Path, engine: str
) -> None:
    url = fresh_database(request, engine, tmp_path)
    port = free_port()
    server = RestartableServer(
        url,
        tmp_path,
        {"KULEDGER_OPERATOR_PORT": str(port), "KULEDGER_GROUP_COMMIT": "true"},
    )
    container = Container(Settings.from_env(server.env))
    try:
        for uid in USERS:
            user_service.create_user(container.uow, container.clock, uid=uid)
    finally:
        container.close()
    seeded = {(uid, account): SEED for uid in USERS for account in ("main", "trade")}
    server.cli.post(
        [
            {
                "op": "deposit",
                "uid": uid,
                "id": f"seed-{account}",
                "currency": "USDT",
                "amount": str(amount),
                "account": account,
            }
            for (uid, account), amount in seeded.items()
        ]
    )
    token = server.cli.json(
        "operator-token", "create", "--name", "crash", "--scope", "post", "--json"
    )["token"]
    endpoint = f"http://127.0.0.1:{port}/operator/v1/operations"
    headers = {"Authorization": f"Bearer {token}"}

    server.start()
    done = threading.Event()
    problems: list[str] = []
    ops: list[Op] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        rng = random.Random(number)
        with httpx.Client(timeout=10) as http:
            for n in range(100_000):
                if done.is_set() or problems:
                    return
                item = _op(rng, f"c{number}-{n}", number)
                with lock:
                    ops.append(item)
                for _ in range(500):
                    try:
                        response = http.post(
                            endpoint, json=item.payload, headers=headers
                        )
                    except httpx.TransportError:  # killed: send it again
                        time.sleep(rng.uniform(0.02, 0.1))
                        continue
                    item.answer = response.json()
                    break
                else:
                    problems.append(f"{item.payload['id']}: never answered")
                    return

    batches: list[tuple[float, float]] = []  # (operations, commits) per life

    def count_batches() -> None:
        """What the server about to be killed committed: group commit is on
        only if some of its commits held more than one operation."""
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.TransportError:
            return  # not up yet: it dies young
        ops_sum = commits = 0.0
        for line in text.splitlines():
            if line.startswith("kuledger_write_batch_operations_sum"):
                ops_sum = float(line.split()[-1])
            elif line.startswith("kuledger_write_batch_operations_count"):
                commits = float(line.split()[-1])
        batches.append((ops_sum, commits))

    killer = threading.Thread(
        target=server.kill_repeatedly,
        args=(KILLS, random.Random(11), (0.4, 1.0), 0.1, problems, done),
        kwargs={"before_kill": count_batches},
    )
    threads = [killer]
    threads += [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a driver thread hung"
    assert not problems, problems[:5]
    server.stop()
    # The kills hit servers that were committing operations in batches.
    assert any(ops > commits > 0 for ops, commits in batches), batches

    container = Container(Settings.from_env(server.env))
    try:
        with container.uow() as uow:
            stored = uow.ledger.find_operations(
                (o.payload["uid"], o.payload["id"]) for o in ops
            )
        entries = {
            e.id: e
            for uid in USERS
            for e in container.reader.entries(uid, None, None, None, None)
        }
        balances = {
            (a.key.uid, a.key.type.value): a.balance
            for uid in USERS
            for a in container.reader.accounts(uid)
        }
    finally:
        container.close()

    expected: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal, seeded)
    claimed: set[int] = set()
    codes: defaultdict[str, int] = defaultdict(int)
    for item in ops:
        ref = (item.payload["uid"], item.payload["id"])
        record = stored.get(ref)
        code = item.answer["code"] if item.answer else "unanswered"
        codes[code] += 1
        if code != "200000":
            assert code == "200004", item.answer  # only overdrafts are refused
            assert record is None, f"refused {ref} was written"
            continue
        assert item.answer is not None and record is not None, f"{ref} lost"
        result = OperationResult.from_json(record.result, replayed=True)
        assert [str(i) for i in result.entry_ids] == item.answer["data"]["entries"]
        amount = Decimal(item.payload["amount"])
        for entry_id, (uid, account, direction) in zip(
            result.entry_ids, item.legs, strict=True
        ):
            entry = entries[entry_id]
            assert (entry.uid, entry.account_type.value, entry.direction.value) == (
                uid,
                account,
                direction,
            )
            assert entry.amount == amount
            assert entry_id not in claimed, f"entry {entry_id} used twice"
            claimed.add(entry_id)
            expected[(uid, account)] += amount if direction == "in" else -amount
    applied = codes["200000"]
    assert applied > THREADS and codes["200004"] > 0, dict(codes)
    assert len(stored) == applied  # exactly once: no refused or extra record
    assert len(entries) == len(seeded) + 2 * applied
    assert balances == dict(expected)
    report = json.loads(server.cli.run("verify", "--json"))
    assert report["ok"] is True, report
    print(f"\n{engine}: {KILLS} SIGKILLs, {dict(codes)}, (ops, commits) {batches}")
