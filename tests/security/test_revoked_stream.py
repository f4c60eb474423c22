"""A revoked key's open WebSockets are closed: revoked by the CLI in another
process, on SQLite with one worker and on PostgreSQL with Redis and two
workers. The user's other keys keep their connections.

Needs a socket: the server's workers hold the connections, and the revocation
comes from outside them. Every wait is bounded (WAIT); 127.0.0.1 only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from kuledger.domain.users import Permission
from tests.conftest import PostgresDatabases
from tests.e2e.test_balance_stream import (
    WAIT,
    add_key,
    bullet,
    flex_transfer,
    make_user,
    open_ws,
    recv,
    redis_server,
    send,
    subscribe,
    ws_url,
)
from tests.support.server import LiveServer, live_server
from tests.support.shared import engine_server

CONNECTIONS = 4  # with two workers, most likely on both of them


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ],
)
def stream_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[LiveServer]:
    if request.param == "sqlite":
        with engine_server("sqlite", tmp_path_factory, postgres_databases) as s:
            yield s
        return
    with ExitStack() as stack:
        redis = stack.enter_context(redis_server(tmp_path_factory.mktemp("redis")))
        env = {"KULEDGER_REDIS_URL": redis.url}
        workdir = tmp_path_factory.mktemp("server")
        yield stack.enter_context(
            live_server(postgres_databases.new(), workdir, extra_env=env, workers=2)
        )


@contextmanager
def _open(server: LiveServer, token: str, n: int) -> Iterator[ClientConnection]:
    with open_ws(ws_url(server), token, f"c{n}") as ws:
        assert recv(ws) == {"id": f"c{n}", "type": "welcome"}
        subscribe(ws, f"sub-{n}")
        yield ws


def _until_closed(ws: ClientConnection) -> tuple[list[dict[str, Any]], int | None]:
    """Frames received until the server closes (at most WAIT s), and the code."""
    frames = []
    try:
        while True:
            frames.append(recv(ws, timeout=WAIT))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None


@pytest.mark.slow
def test_a_revoked_keys_sockets_are_closed(stream_server):
    user = make_user(stream_server, "revoked")
    # the same user's second key
    other = add_key(
        stream_server, user.uid, Permission.GENERAL, Permission.FLEX_TRANSFERS
    )
    with ExitStack() as stack:
        token = bullet(stream_server, user)["token"]
        doomed = [
            stack.enter_context(_open(stream_server, token, n))
            for n in range(CONNECTIONS)
        ]
        kept = stack.enter_context(
            _open(stream_server, bullet(stream_server, other)["token"], 99)
        )
        stream_server.cli.run("keys", "revoke", user.key)
        for ws in doomed:
            frames, code = _until_closed(ws)
            assert frames[-1:] == [
                {"id": ws.request.path.split("connectId=")[1], **REVOKED}
            ], frames
            assert all(f.get("type") == "message" for f in frames[:-1]), frames
            assert code == 1008
        # the other key's connection is open and still pushed to
        flex_transfer(stream_server, other, "1", "MAIN", "TRADE")
        legs = [recv(kept), recv(kept)]
        assert [m["type"] for m in legs] == ["message", "message"]
        send(kept, {"id": "p", "type": "ping"})
        assert recv(kept) == {"id": "p", "type": "pong"}


REVOKED = {"type": "error", "code": 401, "data": "api key revoked"}
