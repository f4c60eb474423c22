"""Each worker caches API key rows; a revocation or a permission change made
anywhere reaches every worker within a second (LISTEN/NOTIFY on PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.domain.users import Permission
from kuledger.services import keys as key_service
from kuledger.storage.key_changes import (
    APPLICATION_NAME,
    PgKeyChanges,
    notify_key_change,
)
from tests.support.api import new_uid
from tests.support.server import ApiUser, LiveServer, live_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WITHIN_S = 1.0  # the promise: a change stops the key on every worker by then


@pytest.fixture
def two_servers(
    postgres_url: str, tmp_path: Path
) -> Iterator[tuple[LiveServer, LiveServer]]:
    with (
        live_server(postgres_url, tmp_path / "a") as a,
        live_server(postgres_url, tmp_path / "b") as b,
    ):
        yield a, b


@pytest.fixture(autouse=True)
def _workdirs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()


def accounts(server: LiveServer, user: ApiUser) -> str:
    """The KuCoin code GET /api/v1/accounts answers `user` with."""
    return str(server.signed(user, "GET", "/api/v1/accounts").json()["code"])


def first_code_within(seconds: float, call: Callable[[], str], wanted: str) -> float:
    """Ask until `call` answers `wanted`; how long that took (fails past
    `seconds`)."""
    start = time.monotonic()
    code = call()
    while code != wanted:
        assert time.monotonic() - start < seconds, f"still {code} after {seconds}s"
        code = call()
    return time.monotonic() - start


def warmed(server: LiveServer, user: ApiUser) -> None:
    for _ in range(3):  # the first reads the row, the others the cache
        assert accounts(server, user) == "200000"


def test_a_key_revoked_by_the_cli_is_refused_by_another_server_within_a_second(
    two_servers: tuple[LiveServer, LiveServer],
):
    a, b = two_servers
    user = a.add_user(new_uid("revoked"))
    warmed(a, user)
    warmed(b, user)
    a.cli.run("keys", "revoke", user.key)
    for server in (b, a):
        first_code_within(WITHIN_S, lambda s=server: accounts(s, user), "400003")


def test_a_permission_change_reaches_another_server_within_a_second(
    two_servers: tuple[LiveServer, LiveServer],
):
    a, b = two_servers
    user = a.add_user(new_uid("narrowed"), permissions="General,Spot")
    warmed(b, user)
    container = Container(Settings.from_env(a.cli.env))
    try:
        key_service.update_key(
            container.uow,
            container.box,
            user.key,
            permissions=frozenset({Permission.SPOT}),
        )
    finally:
        container.close()
    first_code_within(WITHIN_S, lambda: accounts(b, user), "400007")


def test_a_listener_that_loses_its_connection_distrusts_what_it_cached(
    postgres_url: str,
):
    changes = PgKeyChanges(postgres_url)
    try:
        assert changes.ready(5.0)
        before = changes.stamp()
        assert before is not None and changes.current(before)
        engine = sa.create_engine(psycopg_url(postgres_url))
        with engine.begin() as conn:
            killed = (
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name "
                        "AND datname = current_database()"
                    ),
                    {"name": APPLICATION_NAME},
                )
                .scalars()
                .all()
            )
        engine.dispose()
        assert killed == [True]
        deadline = time.monotonic() + 5.0
        while changes.current(before):  # until the listener notices
            assert time.monotonic() < deadline, "the lost connection went unnoticed"
            time.sleep(0.01)
        assert changes.ready(5.0)  # it listens again, and never trusts `before`
        assert not changes.current(before)
        after = changes.stamp()
        assert after is not None and changes.current(after)
    finally:
        changes.stop()


def test_a_notification_moves_the_generation_at_commit(postgres_url: str):
    changes = PgKeyChanges(postgres_url)
    engine = sa.create_engine(psycopg_url(postgres_url))
    try:
        assert changes.ready(5.0)
        stamp = changes.stamp()
        assert stamp is not None
        with engine.begin() as conn:
            notify_key_change(conn)
            time.sleep(0.1)  # give a premature delivery the time to show
            assert changes.current(stamp)  # nothing is sent before the commit
        deadline = time.monotonic() + WITHIN_S
        while changes.current(stamp):
            assert time.monotonic() < deadline, "the commit's notification was lost"
            time.sleep(0.01)
    finally:
        changes.stop()
        engine.dispose()


def psycopg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)
