"""`kuledger serve` with read replicas, as real processes: the start-up check
(a malformed or unreachable replica stops the start, naming the setting, or
with --allow-degraded is a warning), and two workers whose users read their
own writes back whichever worker answers, while the monitoring listener
reports the replica's state and where reads went.

Processes, not the in-process app: the check runs in `serve` before any
worker starts, and read-your-writes across workers needs several processes.
"""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.replicas.conftest import each_in_a_thread, wait_for
from tests.replicas.test_read_replicas import INNER, inner_body
from tests.support.server import (
    KULEDGER,
    ApiUser,
    LiveServer,
    database_env,
    free_port,
    live_server,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nothing"
# A new connection each request: the two workers share the port's accepts.
CLOSE = {"Connection": "close"}


def serve_fails(env: dict[str, str]) -> str:
    result = subprocess.run(
        [*KULEDGER, "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    return result.stderr


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://root@127.0.0.1/x", "not a PostgreSQL URL"),
        ("postgresql://", "needs a host and a database name"),
        (UNREACHABLE, "unreachable: OperationalError"),
    ],
)
def test_serve_refuses_a_replica_it_cannot_use_naming_the_setting(
    replicated_db: tuple[str, str],
    replica_env: dict[str, str],
    tmp_path: Path,
    url: str,
    problem: str,
) -> None:
    env = database_env(replicated_db[0], tmp_path)
    env.update(replica_env, KULEDGER_READ_DATABASE_URLS=url)
    stderr = serve_fails(env)
    assert "error: KULEDGER_READ_DATABASE_URLS: replica 1" in stderr
    assert problem in stderr
    assert "--allow-degraded" in stderr
    assert "Traceback" not in stderr


def test_serve_refuses_replicas_without_redis(
    replicated_db: tuple[str, str], tmp_path: Path
) -> None:
    env = database_env(replicated_db[0], tmp_path)
    env["KULEDGER_READ_DATABASE_URLS"] = replicated_db[1]
    stderr = serve_fails(env)
    assert "KULEDGER_READ_DATABASE_URLS needs KULEDGER_REDIS_URL" in stderr


def test_allow_degraded_starts_and_reads_from_the_primary(
    replicated_db: tuple[str, str], replica_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**replica_env, "KULEDGER_READ_DATABASE_URLS": UNREACHABLE}
    with live_server(
        replicated_db[0], tmp_path, extra_env=env, args=("--allow-degraded",)
    ) as server:
        user = _funded(server)
        assert _balance(server.http, server, user) == (Decimal(1000), Decimal(0))
        assert "warning: KULEDGER_READ_DATABASE_URLS: replica 1" in server.log()


def test_two_workers_read_their_users_writes_and_report_the_replica(
    replicated_db: tuple[str, str], replica_env: dict[str, str], tmp_path: Path
) -> None:
    monitor = free_port()
    env = {**replica_env, "KULEDGER_MONITOR_PORT": str(monitor)}
    with live_server(replicated_db[0], tmp_path, extra_env=env, workers=2) as server:
        users = [_funded(server) for _ in range(3)]
        failures: list[str] = []

        def run(user: ApiUser) -> None:
            with httpx.Client(timeout=30) as http:
                for done in range(1, 11):
                    body = inner_body(uuid.uuid4().hex)
                    answer = _on(http, server).signed(
                        user, "POST", INNER, body, headers=CLOSE
                    )
                    assert answer.json()["code"] == "200000", answer.text
                    seen = _balance(http, server, user)
                    if seen != (1000 - done, done):
                        failures.append(f"{user.uid} after {done}: {seen}")

        each_in_a_thread(run, users)
        assert failures == []

        base = f"http://127.0.0.1:{monitor}"
        ready = httpx.get(f"{base}/readyz", timeout=10).json()
        assert ready["replicas"]["replica1"]["state"] == "up", ready

        def replica_reads() -> float:
            with httpx.Client(timeout=30) as http:
                _balance(http, server, users[0])  # no recent write: the replica
            return _sample(httpx.get(f"{base}/metrics", timeout=10).text)

        wait_for(lambda: replica_reads() > 0)
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
        assert 'kuledger_replica_up{address="127.0.0.1:' in metrics


def _sample(metrics: str) -> float:
    """kuledger_database_reads_total for the replica (0 if not yet there)."""
    for line in metrics.splitlines():
        if line.startswith('kuledger_database_reads_total{target="replica1"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _funded(server: LiveServer) -> ApiUser:
    uid = f"u{uuid.uuid4().hex[:10]}"
    user = server.add_user(uid, permissions="General,Spot")
    server.cli.run("deposit", "--uid", uid, "--currency", "USDT", "--amount", "1000")
    return user


def _on(http: httpx.Client, server: LiveServer) -> LiveServer:
    """`server` as seen through a client of the caller's own thread."""
    return replace(server, http=http)


def _balance(
    http: httpx.Client, server: LiveServer, user: ApiUser
) -> tuple[Decimal, Decimal]:
    found = {}
    for type_ in ("main", "trade"):
        path = f"/api/v1/accounts?currency=USDT&type={type_}"
        body = _on(http, server).signed(user, "GET", path, headers=CLOSE).json()
        assert body["code"] == "200000", body
        found[type_] = Decimal(body["data"][0]["balance"]) if body["data"] else 0
    return Decimal(found["main"]), Decimal(found["trade"])
