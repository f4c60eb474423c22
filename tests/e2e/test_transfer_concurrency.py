"""Transfers racing each other on the real application, on both engines.

Ten replays of one clientOid, each its own signed request (in process: its own
ASGI call; on a real server: its own connection), released together: exactly
one pair of entries is written and every reply is 200000 with the same orderId.
Ten different transfers racing for the same funds: as many succeed as the
balance allows, the rest get 200004, and the ledger still verifies. Then the
same with several server processes (uvicorn workers) sharing the database:
that one needs a socket, for the racers to land in different processes.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.conftest import PostgresDatabases
from tests.support import db_view
from tests.support.api import new_uid, signed_headers
from tests.support.db_view import add_user, db_accounts, db_ledger
from tests.support.server import ApiUser, Server, live_server
from tests.support.shared import ENGINES

FLEX = "/api/v3/accounts/universal-transfer"
INNER = "/api/v2/accounts/inner-transfer"
RACERS = 10


@pytest.fixture(scope="module", autouse=True)
def _close_db_views() -> Iterator[None]:
    yield
    db_view.close_all()


def race(
    server: Server, user: ApiUser, path: str, bodies: list[str]
) -> list[httpx.Response]:
    """POST every body at once: one thread and connection each, released by a
    barrier, each request signed (its own timestamp) only after the release."""
    barrier = threading.Barrier(len(bodies))

    def one(body: str) -> httpx.Response:
        with server.new_client() as client:
            client.get(server.base_url + "/api/v1/timestamp")  # connect first
            barrier.wait()
            headers = signed_headers(user, "POST", path, body)
            headers["Content-Type"] = "application/json"
            return client.post(server.base_url + path, headers=headers, content=body)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(one, bodies))


def body_for(path: str, client_oid: str, amount: str) -> str:
    if path == FLEX:
        fields = {"fromAccountType": "MAIN", "toAccountType": "TRADE"}
        fields["type"] = "INTERNAL"
    else:
        fields = {"from": "main", "to": "trade"}
    return json.dumps(
        {"clientOid": client_oid, "currency": "USDT", "amount": amount, **fields}
    )


def funded_user(server: Server, usdt: str) -> ApiUser:
    user = add_user(server, new_uid("racer"), permissions="General,Spot,FlexTransfers")
    deposit = {"op": "deposit", "uid": user.uid, "id": "fund", "currency": "USDT"}
    server.cli.post([{**deposit, "amount": usdt}])
    return user


def balances(server: Server, uid: str) -> dict[str, str]:
    accounts = db_accounts(server, uid)
    return {t: a["balance"] for (t, c), a in accounts.items() if c == "USDT"}


def check_replays_write_one_pair(server: Server, path: str) -> None:
    """The transfer goes into an account that does not exist yet, so the racers
    also race to create it."""
    user = funded_user(server, "100")
    body = body_for(path, uuid.uuid4().hex, "12.5")
    responses = race(server, user, path, [body] * RACERS)
    codes = [(r.status_code, r.json().get("code")) for r in responses]
    assert codes == [(200, "200000")] * RACERS, [r.text for r in responses]
    order_ids = {r.json()["data"]["orderId"] for r in responses}
    assert len(order_ids) == 1, order_ids
    entries = db_ledger(server, user.uid)
    moved = sorted(
        ((i["accountType"], i["direction"], i["amount"]) for i in entries[:2]),
    )
    assert len(entries) == 3  # the deposit, then one out and one in
    assert moved == [("MAIN", "out", "12.5"), ("TRADE", "in", "12.5")]
    order_id = order_ids.pop()
    first = min(int(i["id"]) for i in entries[:2])
    assert int(order_id[8:], 16) == first
    assert balances(server, user.uid) == {"main": "87.5", "trade": "12.5"}
    # and one more, later, is still a replay
    again = server.signed(user, "POST", path, body).json()
    assert again == {"code": "200000", "data": {"orderId": order_id}}
    assert db_ledger(server, user.uid) == entries


def check_racers_never_overdraw(server: Server, path: str) -> None:
    """Ten transfers of 30 from 100: three succeed, seven find the funds gone."""
    user = funded_user(server, "100")
    bodies = [body_for(path, uuid.uuid4().hex, "30") for _ in range(RACERS)]
    responses = race(server, user, path, bodies)
    codes = sorted(r.json()["code"] for r in responses)
    assert codes == ["200000"] * 3 + ["200004"] * 7, [r.text for r in responses]
    assert all(r.status_code == 200 for r in responses)
    assert balances(server, user.uid) == {"main": "10", "trade": "90"}
    entries = db_ledger(server, user.uid)
    assert len(entries) == 1 + 3 * 2
    # each balance after is the previous one plus or minus the amount
    for account in ("MAIN", "TRADE"):
        running = Decimal(0)
        for item in sorted(
            (i for i in entries if i["accountType"] == account),
            key=lambda i: int(i["id"]),
        ):
            sign = 1 if item["direction"] == "in" else -1
            running += sign * Decimal(item["amount"])
            assert Decimal(item["balance"]) == running, item
    report = json.loads(server.cli.run("verify", "--json"))  # exits 1 if not ok
    assert report["ok"] is True and report["problems"] == [], report


@pytest.mark.parametrize("path", [FLEX, INNER])
def test_concurrent_replays_write_one_pair(module_api, path):
    check_replays_write_one_pair(module_api, path)


def test_concurrent_transfers_never_overdraw(module_api):
    check_racers_never_overdraw(module_api, INNER)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_concurrent_transfers_across_worker_processes(
    request: pytest.FixtureRequest, tmp_path: Path, engine: str
) -> None:
    """Three uvicorn workers on one database: the racers land in different
    processes, so only the database's locks keep them apart."""
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        url = databases.new()
    with live_server(url, tmp_path, workers=3) as server:
        try:
            assert len(_children(server.process.pid)) >= 3
            for path in (FLEX, INNER):
                check_replays_write_one_pair(server, path)
            check_racers_never_overdraw(server, FLEX)
        finally:
            db_view.close_all()


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc). The log cannot tell:
    with several workers it holds only the parent's lines."""
    proc = Path("/proc")
    if not proc.is_dir():
        pytest.skip("no /proc to count the worker processes")
    found = []
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
