"""A key change made in another process reaches both workers of a real
`kuledger serve --workers 2` on PostgreSQL within a second, their key caches
notwithstanding, and so it does while their change listeners are cut off.

Needs real processes: two uvicorn workers, each with its own key cache and
LISTEN connection, and the change made by this test process. Each worker is
reached through connections it is known to hold (found through /proc), and
through fresh connections besides.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.domain.users import Permission
from kuledger.services import keys as key_service
from kuledger.storage.key_notify import APPLICATION_NAME
from tests.support.server import ApiUser, LiveServer, free_port, live_server
from tests.system.processes import add_users, connections_by_process, worker_pids

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="finds workers through /proc"
    ),
]

ACCOUNTS = "/api/v1/accounts"  # permission General
PROMISE_S = 1.0  # a change reaches every worker within this (docs/security.md)
WAIT_S = 20  # bounds the set-up's waits


def _wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {WAIT_S} s"
        time.sleep(0.05)


class Workers:
    """A server with clients pinned to each of its two workers."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.pids = worker_pids(server.process.pid)
        self.clients: list[httpx.Client] = []
        port = int(server.base_url.rsplit(":", 1)[1])
        for _ in range(10):  # rounds of new connections until both hold some
            self.clients += [httpx.Client(timeout=10) for _ in range(4)]
            for client in self.clients:
                client.get(server.base_url + "/api/v1/timestamp")
            if set(connections_by_process(self.pids, port)) == set(self.pids):
                return
        raise AssertionError("the connections did not reach both workers")

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def codes(self, user: ApiUser) -> list[str]:
        """One signed GET on every pinned connection and on a fresh one."""
        codes = []
        with httpx.Client(timeout=10) as fresh:
            for client in [*self.clients, fresh]:
                response = replace(self.server, http=client).signed(
                    user, "GET", ACCOUNTS
                )
                codes.append(response.json()["code"])
        return codes

    def listeners(self) -> int:
        with psycopg.connect(self.server.cli.env["KULEDGER_DATABASE_URL"]) as sql:
            row = sql.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND datname = current_database()",
                (APPLICATION_NAME,),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def warm(self, user: ApiUser) -> None:
        """Both workers listen and have answered (and cached) the key."""
        _wait_for(lambda: set(self.codes(user)) == {"200000"}, "the key works")
        _wait_for(lambda: self.listeners() == 2, "both workers listen")
        assert set(self.codes(user)) == {"200000"}

    def refused_within_the_promise(self, user: ApiUser, code: str) -> None:
        """From the change on, within PROMISE_S every request gets `code`:
        three rounds over every connection in a row."""
        deadline = time.monotonic() + PROMISE_S
        refused_rounds = 0
        while refused_rounds < 3:
            codes = self.codes(user)
            if set(codes) == {code}:
                refused_rounds += 1
                continue
            refused_rounds = 0
            assert time.monotonic() < deadline, (
                f"still answered after a second: {codes}"
            )


@contextmanager
def _workers(
    postgres_url: str, tmp_path: Path, *uids: str, monitor_port: int = 0
) -> Iterator[tuple[Workers, Container, list[ApiUser]]]:
    """Two workers, whose caches hold a key of each of `uids`, and a
    container of this process on their database."""
    env = {"KULEDGER_MONITOR_PORT": str(monitor_port)} if monitor_port else {}
    with live_server(postgres_url, tmp_path, workers=2, extra_env=env) as server:
        _wait_for(lambda: len(worker_pids(server.process.pid)) == 2, "two workers")
        workers = Workers(server)
        container = Container(Settings.from_env(server.cli.env))
        try:
            users = add_users(server, *uids)
            for user in users:
                workers.warm(user)
            yield workers, container, users
        finally:
            container.close()
            workers.close()


def _listeners_metric(port: int) -> float:
    """kuledger_key_cache_listeners as the monitoring listener reports it."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == "kuledger_key_cache_listeners":
            return sum(sample.value for sample in family.samples)
    return 0.0


def _terminate_listeners(workers: Workers) -> None:
    with psycopg.connect(workers.server.cli.env["KULEDGER_DATABASE_URL"]) as sql:
        sql.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database()",
            (APPLICATION_NAME,),
        )


def _spot_only(container: Container, user: ApiUser) -> None:
    """Take General (what GET /api/v1/accounts needs) from the key, in this
    process, by the service the operator API and sub-account endpoints use."""
    spot = frozenset({Permission.SPOT})
    key_service.update_key(container.uow, container.box, user.key, permissions=spot)


def test_a_revoke_and_a_permission_change_reach_both_workers(
    postgres_url: str, tmp_path: Path
):
    with _workers(postgres_url, tmp_path, "revoked", "narrowed") as (
        workers,
        container,
        (revoked, narrowed),
    ):
        workers.server.cli.run("keys", "revoke", revoked.key)
        workers.refused_within_the_promise(revoked, "400003")

        _spot_only(container, narrowed)
        workers.refused_within_the_promise(narrowed, "400007")


def test_a_revoke_while_the_listeners_are_cut_off_still_reaches_both_workers(
    postgres_url: str, tmp_path: Path
):
    port = free_port()
    with _workers(postgres_url, tmp_path, "during", "after", monitor_port=port) as (
        workers,
        container,
        (during, after),
    ):
        _wait_for(lambda: _listeners_metric(port) == 2, "the metric counts both")
        _terminate_listeners(workers)
        workers.server.cli.run("keys", "revoke", during.key)
        workers.refused_within_the_promise(during, "400003")

        # Listening again, the caches serve and hear changes again.
        workers.warm(after)
        _wait_for(lambda: _listeners_metric(port) == 2, "and both again")
        _spot_only(container, after)
        workers.refused_within_the_promise(after, "400007")
