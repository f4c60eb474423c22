"""Read replicas on a real primary and streaming replica (tests.support.pg_cluster):
users' reads go to the replica, never older than the reader's own last write
(read-your-writes through Redis, across nodes), fall back to the primary while
the replica lags or is down, and come back to it; nothing is written there.

In process (`in_process_server`): the app, its reader and writer are the real
ones; what these tests need of processes is the clusters', which are real.
"""

from __future__ import annotations

import json
import threading
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from kuledger.bootstrap import Container, build_writer
from kuledger.config import Settings
from kuledger.services.operator import submit
from tests.replicas.conftest import each_in_a_thread, replica_set, wait_for
from tests.support.inprocess import InProcessServer, in_process_server
from tests.support.pg_cluster import PgPair
from tests.support.server import ApiUser

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ACCOUNTS = "/api/v1/accounts"
INNER = "/api/v2/accounts/inner-transfer"


def funded(server: InProcessServer, amount: int = 1000) -> ApiUser:
    uid = f"u{uuid.uuid4().hex[:10]}"
    user = server.add_user(uid, permissions="General,Spot")
    server.cli.run(
        "deposit", "--uid", uid, "--currency", "USDT", "--amount", f"{amount}"
    )
    assert balance(server, user) == amount  # a CLI write, read back at once
    return user


def balance(server: InProcessServer, user: ApiUser, type_: str = "main") -> Decimal:
    response = server.signed(user, "GET", f"{ACCOUNTS}?currency=USDT&type={type_}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "200000", body
    return Decimal(body["data"][0]["balance"]) if body["data"] else Decimal(0)


def inner_body(client_oid: str, amount: str = "1") -> str:
    """An inner transfer of USDT from main to trade."""
    fields = {"clientOid": client_oid, "currency": "USDT", "amount": amount}
    return json.dumps({**fields, "from": "main", "to": "trade"})


def transfer(server: InProcessServer, user: ApiUser, amount: str = "1") -> None:
    response = server.signed(user, "POST", INNER, inner_body(uuid.uuid4().hex, amount))
    assert response.json()["code"] == "200000", response.text


def replica_reads(server: InProcessServer) -> int:
    return replica_set(server).reads.get("replica1", 0)


def on_replica(server: InProcessServer, user: ApiUser) -> bool:
    """Whether a read of `user`'s balance now is served by the replica."""
    before = replica_reads(server)
    balance(server, user)
    return replica_reads(server) > before


def test_reads_go_to_the_replica_and_nothing_is_written_there(
    node: InProcessServer, pg_pair: PgPair
) -> None:
    user = funded(node)
    wait_for(lambda: on_replica(node, user))
    assert balance(node, user) == 1000
    sessions = pg_pair.replica.execute(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = 'kuledger-replica-read'"
    )
    assert sessions[0][0] >= 1
    # Its sessions are read-only: a write on one is refused by the server.
    engine = replica_set(node).replicas[0].engine
    with engine.connect() as conn:
        shown = conn.exec_driver_sql("SHOW default_transaction_read_only").scalar()
        plans = conn.exec_driver_sql("SHOW plan_cache_mode").scalar()
    assert (shown, plans) == ("on", "force_generic_plan")  # plans as the primary's
    with pytest.raises(sa.exc.InternalError, match="read-only"), engine.connect() as c:
        c.exec_driver_sql("CREATE TABLE nope (id int)")


def test_no_read_is_older_than_the_readers_own_last_write(
    node: InProcessServer, replica_env: dict[str, str], tmp_path: Path
) -> None:
    """Four users each transfer through one node and read their balances
    back through another (two nodes share Redis, as two machines would):
    every read shows every transfer its reader has made, while the replica
    serves reads too."""
    with in_process_server(
        node.cli.env["KULEDGER_DATABASE_URL"], tmp_path / "other", extra_env=replica_env
    ) as other:
        users = [funded(node) for _ in range(4)]
        quiet = funded(node)
        failures: list[str] = []

        def run(user: ApiUser) -> None:
            for done in range(1, 16):
                transfer(node, user)
                for reader in (other, node):
                    main, trade = balance(reader, user), balance(reader, user, "trade")
                    if (main, trade) != (1000 - done, done):
                        failures.append(f"{user.uid} after {done}: {main}, {trade}")
                balance(other, quiet)  # a user with no recent write: the replica

        each_in_a_thread(run, users)
        assert failures == []
        assert replica_reads(other) > 0  # the replica served some of them


def test_a_lagging_replica_is_left_until_it_catches_up(
    node: InProcessServer, pg_pair: PgPair
) -> None:
    user, quiet = funded(node), funded(node)
    wait_for(lambda: on_replica(node, quiet))
    pg_pair.replica.execute("SELECT pg_wal_replay_pause()")
    try:
        transfer(node, user, "5")
        # Its own write is read back at once, from the primary.
        assert balance(node, user, "trade") == 5
        replicas = replica_set(node)
        wait_for(lambda: replicas.describe()["replica1"]["state"] == "lagging")
        assert not on_replica(node, quiet)
        assert balance(node, user, "trade") == 5
    finally:
        pg_pair.replica.execute("SELECT pg_wal_replay_resume()")
    wait_for(lambda: on_replica(node, user))
    assert balance(node, user, "trade") == 5


def test_a_replica_killed_mid_load_costs_no_client_an_error(
    node: InProcessServer, pg_pair: PgPair
) -> None:
    users = [funded(node) for _ in range(3)]
    wait_for(lambda: all(on_replica(node, u) for u in users))
    stop = threading.Event()
    answers: list[int] = []

    def load(user: ApiUser) -> None:
        reads = 0
        while not stop.is_set() and reads < 5000:
            answers.append(int(balance(node, user)))
            reads += 1

    threads = [threading.Thread(target=load, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    replicas = replica_set(node)
    try:
        wait_for(lambda: len(answers) > 50)
        pg_pair.replica.stop("immediate")
        wait_for(lambda: replicas.describe()["replica1"]["state"] == "down")
        seen = len(answers)
        wait_for(lambda: len(answers) > seen + 50)  # served by the primary
        assert not on_replica(node, users[0])
    finally:
        if not pg_pair.replica.running():
            pg_pair.replica.start()
    wait_for(lambda: on_replica(node, users[0]))  # back in rotation
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert answers and set(answers) == {1000}  # every read answered, correctly


def test_primary_restart_fails_writes_with_kucoins_envelope_then_resumes(
    node: InProcessServer, pg_pair: PgPair
) -> None:
    user = funded(node)
    pg_pair.primary.stop("fast")
    try:
        response = node.signed(user, "POST", INNER, inner_body("x1"))
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "503000"
        assert "Internal" not in response.text
    finally:
        pg_pair.primary.start()
    wait_for(lambda: _transfers(node, user))
    assert balance(node, user, "trade") == 1


def _transfers(node: InProcessServer, user: ApiUser) -> bool:
    response = node.signed(user, "POST", INNER, inner_body("x2"))
    return bool(response.json()["code"] == "200000")


def test_replicas_need_redis_and_postgresql(replicated_db: tuple[str, str]) -> None:
    from kuledger.config import ConfigError

    primary, replica = replicated_db
    settings = Settings.from_env(
        {"KULEDGER_DATABASE_URL": primary, "KULEDGER_READ_DATABASE_URLS": replica}
    )
    container = Container(settings)
    try:
        with pytest.raises(ConfigError, match="KULEDGER_REDIS_URL"):
            container.uow()
    finally:
        container.close()


def test_an_operation_posted_for_a_user_is_read_back_while_the_replica_lags(
    node: InProcessServer, pg_pair: PgPair
) -> None:
    """The operator API's path: the server's group-commit writer."""
    assert node.container is not None
    user = funded(node)
    wait_for(lambda: on_replica(node, user))
    writer = build_writer(node.container, None)
    payload = {"op": "deposit", "uid": user.uid, "id": "bonus-1", "currency": "USDT"}
    pg_pair.replica.execute("SELECT pg_wal_replay_pause()")
    try:
        [outcome] = submit(writer, [{**payload, "amount": "7"}], False).result(30)
        assert not isinstance(outcome, Exception), outcome
        assert balance(node, user) == 1007  # from the primary: the replica lags
    finally:
        pg_pair.replica.execute("SELECT pg_wal_replay_resume()")
    wait_for(lambda: on_replica(node, user))
    assert balance(node, user) == 1007
