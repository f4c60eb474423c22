"""The private WebSocket balance stream (/account/balance), end to end.

Real `kuledger serve` processes; clients are kucoin-universal-sdk's spot private
WebSocket service (token from our POST /api/v1/bullet-private, default options,
only the REST URL pointed at us) and a raw `websockets` client for the protocol
messages. Changes come from HTTP transfers and withdrawals, the operator API's
funding moves (the in-process bus of one worker), and from `kuledger post`,
`funding` and `import` in another process (through Redis). Every wait is
bounded; everything listens on and talks to 127.0.0.1 only.

Needs a socket: the SDK opens its own connections, several workers fan out
through Redis, and `kuledger post` publishes from another process.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from kucoin_universal_sdk.api.client import DefaultClient
from kucoin_universal_sdk.model.client_option import ClientOptionBuilder
from kucoin_universal_sdk.model.transport_option import TransportOptionBuilder
from kucoin_universal_sdk.model.websocket_option import WebSocketClientOptionBuilder
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.domain.users import Permission
from kuledger.http.stream_tokens import StreamTokens
from kuledger.services import keys as key_service
from kuledger.services import ledger
from kuledger.services import users as user_service
from kuledger.storage.secretbox import FernetBox
from tests.conftest import PostgresDatabases
from tests.support.api import assert_error, new_uid, now_ms, ok_data
from tests.support.server import ApiUser, LiveServer, free_port, live_server
from tests.support.shared import engine_server
from tests.system.processes import (
    connections_by_process,
    live_servers,
    private_redis_server,
    wait_for,
    worker_pids,
)

BULLET = "/api/v1/bullet-private"
FLEX = "/api/v3/accounts/universal-transfer"
TOPIC = "/account/balance"
E2E_SECRET_KEY = "e2e-secret-key-material"  # tests.support.server.database_env
WAIT = 10.0  # seconds any expected frame may take
QUIET = 0.7  # seconds of silence that show nothing more is coming


# --- servers and users ----------------------------------------------------------------


@pytest.fixture(scope="module")
def operator_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def plain(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
    operator_port: int,
) -> Iterator[LiveServer]:
    """One worker, no Redis, and the operator listener on `operator_port`:
    HTTP changes (of both APIs) go through the in-process bus."""
    env = {"KULEDGER_OPERATOR_PORT": str(operator_port)}
    with engine_server("sqlite", tmp_path_factory, postgres_databases, env) as server:
        yield server


redis_server = private_redis_server  # skips, or fails under CI, without redis-server


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as redis:
        yield redis.url


@pytest.fixture(scope="module")
def with_redis(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[LiveServer]:
    """One worker with KULEDGER_REDIS_URL: the CLI's changes reach it too."""
    workdir = tmp_path_factory.mktemp("server")
    url = f"sqlite:///{workdir / 'ledger.db'}"
    env = {"KULEDGER_REDIS_URL": redis_url}
    with live_server(url, workdir, extra_env=env) as server:
        yield server


@contextmanager
def on_database(server: LiveServer) -> Iterator[Container]:
    """The server's database, in-process (two CLI runs would cost seconds)."""
    container = Container(Settings.from_env(server.cli.env))
    try:
        yield container
    finally:
        container.close()


def make_user(server: LiveServer, prefix: str, usdt: str = "1000") -> ApiUser:
    """A user with a General+FlexTransfers key and `usdt` in main (a deposit
    that nobody is subscribed to yet)."""
    uid = new_uid(prefix)
    with on_database(server) as c:
        user_service.create_user(c.uow, c.clock, uid=uid)
        if usdt != "0":
            deposit = {"op": "deposit", "uid": uid, "id": "seed", "currency": "USDT"}
            ledger.apply(c.uow, {**deposit, "amount": usdt}, c.clock)
    return add_key(server, uid, Permission.GENERAL, Permission.FLEX_TRANSFERS)


def add_key(server: LiveServer, uid: str, *permissions: Permission) -> ApiUser:
    with on_database(server) as c:
        key = key_service.create_key(
            c.uow, c.box, c.clock, uid=uid, permissions=frozenset(permissions)
        )
    return ApiUser(uid, key.key, key.secret, key.passphrase)


def flex_transfer(
    server: LiveServer, user: ApiUser, amount: str, source: str, target: str
) -> str:
    body = json.dumps(
        {
            "clientOid": uuid.uuid4().hex,
            "type": "INTERNAL",
            "currency": "USDT",
            "amount": amount,
            "fromAccountType": source,
            "toAccountType": target,
        }
    )
    order_id: str = ok_data(server.signed(user, "POST", FLEX, body))["orderId"]
    return order_id


def account_ids(server: LiveServer, user: ApiUser) -> dict[str, str]:
    """accountId by account type, for USDT, from GET /api/v1/accounts."""
    accounts = ok_data(server.signed(user, "GET", "/api/v1/accounts?currency=USDT"))
    return {a["type"]: a["id"] for a in accounts}


# --- a raw client ---------------------------------------------------------------------


def bullet(server: LiveServer, user: ApiUser) -> dict[str, Any]:
    data: dict[str, Any] = ok_data(server.signed(user, "POST", BULLET))
    return data


def ws_url(server: LiveServer) -> str:
    return server.base_url.replace("http://", "ws://") + "/ws/private"


def open_ws(url: str, token: str, connect_id: str = "c1") -> ClientConnection:
    return ws_connect(
        f"{url}?token={token}&connectId={connect_id}",
        open_timeout=WAIT,
        close_timeout=2,
    )


def recv(ws: ClientConnection, timeout: float = WAIT) -> dict[str, Any]:
    frame = ws.recv(timeout=timeout)
    assert isinstance(frame, str), frame
    message: dict[str, Any] = json.loads(frame)
    return message


def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    ws.send(json.dumps(message))


@contextmanager
def subscribed(
    server: LiveServer, user: ApiUser, connect_id: str = "c1"
) -> Iterator[ClientConnection]:
    """A connection past its welcome, subscribed to /account/balance."""
    data = bullet(server, user)
    with open_ws(ws_url(server), data["token"], connect_id) as ws:
        assert recv(ws) == {"id": connect_id, "type": "welcome"}
        subscribe(ws, "sub-1")
        yield ws


def subscribe(ws: ClientConnection, message_id: str) -> None:
    send(
        ws,
        {
            "id": message_id,
            "type": "subscribe",
            "topic": TOPIC,
            "privateChannel": True,
            "response": True,
        },
    )
    assert recv(ws) == {"id": message_id, "type": "ack"}


def pushes(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next `count` frames, each a /account/balance push, then silence."""
    got = []
    deadline = time.monotonic() + WAIT
    while len(got) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(got)} of {count} pushes arrived: {got}"
        message = recv(ws, timeout=left)
        assert message.get("type") == "message", message
        got.append(message)
    assert_quiet(ws)
    return got


def assert_quiet(ws: ClientConnection, seconds: float = QUIET) -> None:
    with pytest.raises(TimeoutError):
        extra = ws.recv(timeout=seconds)
        pytest.fail(f"unexpected frame: {extra!r}")


def check_push(
    message: dict[str, Any],
    uid: str,
    account_id: str,
    event: str,
    *,
    change: str,
    total: str,
    context: dict[str, Any] | None = None,
    since: int,
) -> None:
    """One push, field by field, as KuCoin's /account/balance sends it."""
    assert set(message) == {
        "topic",
        "type",
        "subject",
        "id",
        "userId",
        "channelType",
        "data",
    }, message
    assert message["topic"] == TOPIC
    assert message["subject"] == "account.balance"
    assert message["channelType"] == "private"
    assert message["userId"] == uid
    data = message["data"]
    assert set(data) == {
        "accountId",
        "available",
        "availableChange",
        "currency",
        "hold",
        "holdChange",
        "relationContext",
        "relationEvent",
        "relationEventId",
        "time",
        "total",
    }, data
    assert data["accountId"] == account_id
    assert data["currency"] == "USDT"
    assert data["relationEvent"] == event
    assert (data["availableChange"], data["holdChange"]) == (change, "0")
    assert (data["total"], data["available"], data["hold"]) == (total, total, "0")
    assert data["relationContext"] == (context or {})
    assert isinstance(data["relationEventId"], str) and data["relationEventId"]
    assert message["id"] == data["relationEventId"]
    assert isinstance(data["time"], str) and data["time"].isdigit()
    assert since <= int(data["time"]) <= now_ms()
    for name in ("available", "availableChange", "hold", "holdChange", "total"):
        Decimal(data[name])  # a plain decimal string


# --- (a) the universal SDK ------------------------------------------------------------


@pytest.mark.slow  # seconds of real waiting: the full suite runs it
def test_universal_sdk_receives_both_legs_of_an_http_transfer(plain: LiveServer):
    user = make_user(plain, "sdk")
    option = (
        ClientOptionBuilder()
        .set_key(user.key)
        .set_secret(user.secret)
        .set_passphrase(user.passphrase)
        .set_spot_endpoint(plain.base_url)
        .set_futures_endpoint(plain.base_url)
        .set_broker_endpoint(plain.base_url)
        .set_transport_option(TransportOptionBuilder().build())
        .set_websocket_client_option(WebSocketClientOptionBuilder().build())
        .build()
    )
    received: queue.Queue[tuple[str, str, Any]] = queue.Queue()
    ws = DefaultClient(option).ws_service().new_spot_private_ws()
    ws.start()  # POST /api/v1/bullet-private, connect, wait for the welcome
    try:
        sub_id = ws.account(
            lambda topic, subject, event: received.put((topic, subject, event))
        )
        since = now_ms()
        flex_transfer(plain, user, "12.5", "MAIN", "TRADE")
        events = [received.get(timeout=WAIT) for _ in range(2)]
        with pytest.raises(queue.Empty):
            extra = received.get(timeout=QUIET)
            pytest.fail(f"unexpected event {extra}")
        ws.unsubscribe(sub_id)
    finally:
        # stop() joins the SDK's threads without a timeout, and websocket-client's
        # reader may sit out its 10 s select after a close: bound the wait.
        stopper = threading.Thread(target=ws.stop, daemon=True)
        stopper.start()
        stopper.join(timeout=20)
        assert not stopper.is_alive(), "the SDK's WebSocket client did not stop"
    ids = account_ids(plain, user)
    assert [(t, s) for t, s, _ in events] == [(TOPIC, "account.balance")] * 2
    out, into = (e for _, _, e in events)
    assert (out.account_id, out.relation_event) == (ids["main"], "main.transfer")
    assert (out.available_change, out.hold_change) == ("-12.5", "0")
    assert (out.total, out.available, out.hold) == ("987.5", "987.5", "0")
    assert (into.account_id, into.relation_event) == (ids["trade"], "trade.transfer")
    assert (into.available_change, into.total, into.available) == ("12.5",) * 3
    for event in (out, into):
        assert event.currency == "USDT"
        assert event.relation_context is not None  # {} parsed as an object
        assert event.relation_event_id and event.relation_event_id.isdigit()
        assert since <= int(event.time) <= now_ms()
        assert event.common_response.raw_data["relationContext"] == {}
    assert int(out.relation_event_id) < int(into.relation_event_id)


# --- (b) the protocol, with a raw client ----------------------------------------------


def test_bullet_private_returns_a_token_and_this_servers_ws_endpoint(
    plain: LiveServer,
):
    user = make_user(plain, "bullet", usdt="0")
    first, second = bullet(plain, user), bullet(plain, user)
    assert set(first) == {"token", "instanceServers"}
    assert first["instanceServers"] == [
        {
            "endpoint": ws_url(plain),
            "encrypt": False,
            "protocol": "websocket",
            "pingInterval": 18000,
            "pingTimeout": 10000,
        }
    ]
    assert isinstance(first["token"], str) and first["token"] != second["token"]
    # Signed like every private endpoint, and General permission is required.
    response = plain.http.post(plain.base_url + BULLET)
    assert_error(response, 400, "400001")
    flex_only = add_key(plain, user.uid, Permission.FLEX_TRANSFERS)
    assert_error(plain.signed(flex_only, "POST", BULLET), 403, "400007")


def test_welcome_ping_subscribe_and_unsubscribe(plain: LiveServer):
    user = make_user(plain, "proto")
    token = bullet(plain, user)["token"]
    with open_ws(ws_url(plain), token, "my-connect-id") as ws:
        assert recv(ws) == {"id": "my-connect-id", "type": "welcome"}
        send(ws, {"id": "p1", "type": "ping"})
        assert recv(ws) == {"id": "p1", "type": "pong"}
        subscribe(ws, "s1")
        subscribe(ws, "s2")  # again: acknowledged, still one subscription
        since = now_ms()
        flex_transfer(plain, user, "1", "MAIN", "TRADE")
        assert [m["data"]["relationEvent"] for m in pushes(ws, 2)] == [
            "main.transfer",
            "trade.transfer",
        ]
        # Without "response": true a subscribe is not acknowledged.
        send(ws, {"id": "s3", "type": "subscribe", "topic": TOPIC})
        assert_quiet(ws)
        send(ws, {"id": "u1", "type": "unsubscribe", "topic": TOPIC, "response": True})
        assert recv(ws) == {"id": "u1", "type": "ack"}
        flex_transfer(plain, user, "1", "TRADE", "MAIN")
        assert_quiet(ws)  # unsubscribed: nothing
        send(ws, {"id": "p2", "type": "ping"})
        assert recv(ws) == {"id": "p2", "type": "pong"}
        subscribe(ws, "s4")
        flex_transfer(plain, user, "2", "MAIN", "TRADE")
        ids = account_ids(plain, user)
        out, into = pushes(ws, 2)
        check_push(
            out,
            user.uid,
            ids["main"],
            "main.transfer",
            change="-2",
            total="998",
            since=since,
        )
        check_push(
            into,
            user.uid,
            ids["trade"],
            "trade.transfer",
            change="2",
            total="2",
            since=since,
        )


def test_bad_tokens_get_error_401_and_the_connection_closed(plain: LiveServer):
    user = make_user(plain, "badtoken", usdt="0")
    good = bullet(plain, user)["token"]
    payload, signature = good.split(".")
    past = StreamTokens(
        FernetBox(E2E_SECRET_KEY).derive_key("ws-token"),
        lambda: now_ms() - 25 * 3_600_000,
    )
    other_key = StreamTokens(FernetBox("another-key").derive_key("ws-token"), now_ms)
    revoked = add_key(plain, user.uid, Permission.GENERAL)
    revoked_token = bullet(plain, revoked)["token"]
    with on_database(plain) as c:
        key_service.revoke_key(c.uow, c.clock, revoked.key)
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    cases = {
        "missing": "",
        "garbage": "not-a-token",
        "tampered": f"{tampered}.{signature}",
        "expired": past.issue(user.uid, user.key),
        "foreign key": other_key.issue(user.uid, user.key),
        "revoked": revoked_token,
    }
    for name, token in cases.items():
        with open_ws(ws_url(plain), token, "cid-7") as ws:
            reply = recv(ws)
            assert reply == {
                "id": "cid-7",
                "type": "error",
                "code": 401,
                "data": "token is invalid",
            }, name
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=WAIT)
    # A token is not tied to a connection: the good one still works twice.
    for _ in range(2):
        with open_ws(ws_url(plain), good) as ws:
            assert recv(ws)["type"] == "welcome"


def test_unknown_topics_and_malformed_messages_get_errors(plain: LiveServer):
    user = make_user(plain, "errors", usdt="0")
    with subscribed(plain, user) as ws:
        for topic in ("/spotMarket/tradeOrdersV2", "/account/balance:USDT", "x"):
            send(ws, {"id": "t", "type": "subscribe", "topic": topic, "response": True})
            assert recv(ws) == {
                "id": "t",
                "type": "error",
                "code": 404,
                "data": f"topic {topic} is not found",
            }
        send(ws, {"id": "t2", "type": "subscribe", "response": True})
        assert recv(ws) == {
            "id": "t2",
            "type": "error",
            "code": 400,
            "data": "topic is required",
        }
        ws.send("not json")
        assert recv(ws) == {
            "type": "error",
            "code": 400,
            "data": "message is not a JSON object",
        }
        send(ws, {"id": "t3", "type": "openTunnel"})
        reply = recv(ws)
        assert (reply["id"], reply["type"], reply["code"]) == ("t3", "error", 400)
        send(ws, {"id": "p", "type": "ping"})  # still open, still subscribed
        assert recv(ws) == {"id": "p", "type": "pong"}


def test_every_connection_of_the_user_gets_each_change_once_and_no_other_user(
    plain: LiveServer,
):
    alice, bob = make_user(plain, "alice"), make_user(plain, "bob")
    with (
        subscribed(plain, alice, "a1") as a1,
        subscribed(plain, alice, "a2") as a2,
        subscribed(plain, bob, "b1") as b1,
    ):
        amounts = ["1", "2", "3"]
        for amount in amounts:
            flex_transfer(plain, alice, amount, "MAIN", "TRADE")
        expected = [
            ("main.transfer", "-1"),
            ("trade.transfer", "1"),
            ("main.transfer", "-2"),
            ("trade.transfer", "2"),
            ("main.transfer", "-3"),
            ("trade.transfer", "3"),
        ]
        first = pushes(a1, 6)
        assert [
            (m["data"]["relationEvent"], m["data"]["availableChange"]) for m in first
        ] == expected
        assert [m["data"]["total"] for m in first] == [
            "999",
            "1",
            "997",
            "3",
            "994",
            "6",
        ]
        assert pushes(a2, 6) == first
        assert_quiet(b1)


# --- deposits and withdrawals, from every entry point ---------------------------------


def moves(messages: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """(relationEvent, availableChange, holdChange, total, available, hold)."""
    names = ("relationEvent", "availableChange", "holdChange", "total", "available")
    return [tuple(m["data"][n] for n in (*names, "hold")) for m in messages]


def withdraw(server: LiveServer, user: ApiUser, amount: str) -> str:
    body = json.dumps(
        {
            "currency": "USDT",
            "amount": amount,
            "toAddress": "0xabc",
            "withdrawType": "ADDRESS",
        }
    )
    reply = ok_data(server.signed(user, "POST", "/api/v3/withdrawals", body))
    withdrawal_id: str = reply["withdrawalId"]
    return withdrawal_id


# Deposits of 50 (SUCCESS) and 20 (PROCESSING, then SUCCESS); a withdrawal of
# 9 (+ 1 fee) held, then failed: its hold released.
FUNDING_MOVES = [
    ("main.deposit", "50", "0", "50", "50", "0"),
    ("main.deposit", "20", "0", "70", "70", "0"),
    ("main.hold", "-10", "10", "70", "60", "10"),
    ("main.hold", "10", "-10", "70", "70", "0"),
]


def check_funding_moves(
    server: LiveServer,
    user: ApiUser,
    deposit: Callable[[str, str], str],
    advance_deposit: Callable[[str], object],
    fail_withdrawal: Callable[[str], object],
) -> None:
    """FUNDING_MOVES made through `deposit(amount, status)` (its id) and the
    two advances, each change pushed once, in order, to a subscriber."""
    drawer = add_key(server, user.uid, Permission.GENERAL, Permission.WITHDRAWAL)
    with subscribed(server, user) as ws:
        deposit("50", "SUCCESS")
        pending = deposit("20", "PROCESSING")
        got = pushes(ws, 1)  # then silence: a PROCESSING deposit moves nothing
        advance_deposit(pending)
        fail_withdrawal(withdraw(server, drawer, "9"))
        assert moves(got + pushes(ws, 3)) == FUNDING_MOVES


def test_operator_funding_moves_reach_the_balance_stream(
    plain: LiveServer, operator_port: int
):
    user = make_user(plain, "opfund", usdt="0")
    token = plain.cli.json(
        "operator-token", "create", "--name", user.uid, "--scope", "post", "--json"
    )["token"]
    operator = httpx.Client(
        base_url=f"http://127.0.0.1:{operator_port}/operator/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )

    def call(path: str, **body: str) -> str:
        reply = operator.post(path, json=body)
        assert reply.json()["code"] == "200000", reply.text
        return str(reply.json()["data"]["id"])

    def fail(withdrawal: str) -> None:
        call(f"/withdrawals/{withdrawal}:advance", status="REVIEW")
        call(f"/withdrawals/{withdrawal}:advance", status="FAILURE")

    with operator:
        check_funding_moves(
            plain,
            user,
            lambda amount, status: call(
                "/deposits", uid=user.uid, currency="USDT", amount=amount, status=status
            ),
            lambda pending: call(f"/deposits/{pending}:advance", status="SUCCESS"),
            fail,
        )


# --- through Redis: the CLI's changes, and a lost Redis -------------------------------


@pytest.mark.redis
def test_cli_funding_moves_reach_the_balance_stream(with_redis: LiveServer):
    user = make_user(with_redis, "clifund", usdt="0")
    cli = with_redis.cli
    check_funding_moves(
        with_redis,
        user,
        lambda amount, status: str(
            cli.json(
                *("funding", "deposit", "--uid", user.uid, "--currency", "USDT"),
                *("--amount", amount, "--status", status),
            )["id"]
        ),
        lambda pending: cli.json(
            "funding", "advance-deposit", pending, "--status", "SUCCESS"
        ),
        lambda withdrawal: cli.json(
            "funding", "advance-withdrawal", withdrawal, "--status", "FAILURE"
        ),
    )


@pytest.mark.redis
def test_an_imported_history_reaches_the_balance_stream(
    with_redis: LiveServer, tmp_path: Path
):
    user = make_user(with_redis, "import", usdt="0")
    items = [
        {"id": f"6{n:023x}", "currency": "USDT", "amount": amount, "fee": "0",
         "balance": balance, "accountType": "MAIN", "bizType": "Deposit",
         "direction": "in", "createdAt": 1_765_000_000_000 + n, "context": ""}
        for n, amount, balance in ((1, "10", "10"), (2, "2.5", "12.5"))
    ]  # fmt: skip
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    with subscribed(with_redis, user) as ws:
        with_redis.cli.run("import", "--uid", user.uid, str(path), "--quiet")
        got = pushes(ws, 2)
        with_redis.cli.run("import", "--uid", user.uid, str(path), "--quiet")
        assert_quiet(ws)  # a repeated import replays: nothing changes
    assert moves(got) == [
        ("main.deposit", "10", "0", "10", "10", "0"),
        ("main.deposit", "2.5", "0", "12.5", "12.5", "0"),
    ]


@pytest.mark.redis
def test_cli_deposits_and_http_transfers_arrive_in_order(with_redis: LiveServer):
    user = make_user(with_redis, "cli", usdt="0")
    ids = None
    with subscribed(with_redis, user) as ws:
        since = now_ms()
        deposit = {"op": "deposit", "uid": user.uid, "currency": "USDT"}
        first = {**deposit, "id": "d1", "amount": "100", "context": {"txId": "0xa1"}}
        with_redis.cli.post(
            [first, {**deposit, "id": "d2", "amount": "0.25"}], atomic=True
        )
        with_redis.cli.post([{**deposit, "id": "d3", "amount": "7"}], atomic=False)
        with_redis.cli.run(
            "deposit", "--uid", user.uid, "--currency", "USDT", "--amount", "3"
        )
        flex_transfer(with_redis, user, "10.25", "MAIN", "TRADE")
        with_redis.cli.post([first])  # a replay changes nothing: no push
        got = pushes(ws, 6)
        ids = account_ids(with_redis, user)
        main, trade = ids["main"], ids["trade"]
        checks = [
            (main, "main.deposit", "100", "100", {"txId": "0xa1"}),
            (main, "main.deposit", "0.25", "100.25", None),
            (main, "main.deposit", "7", "107.25", None),
            (main, "main.deposit", "3", "110.25", None),
            (main, "main.transfer", "-10.25", "100", None),
            (trade, "trade.transfer", "10.25", "10.25", None),
        ]
        for message, (account, event, change, total, context) in zip(
            got, checks, strict=True
        ):
            check_push(
                message,
                user.uid,
                account,
                event,
                change=change,
                total=total,
                context=context,
                since=since,
            )
        entry_ids = [int(m["data"]["relationEventId"]) for m in got]
        assert entry_ids == sorted(entry_ids) and len(set(entry_ids)) == 6


@pytest.mark.redis
def test_losing_redis_closes_subscribed_connections(tmp_path: Path):
    with redis_server(tmp_path / "redis") as redis:
        env = {"KULEDGER_REDIS_URL": redis.url}
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        with live_server(url, tmp_path, extra_env=env) as server:
            user = make_user(server, "lost", usdt="0")
            with subscribed(server, user) as ws:
                redis.kill()
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=WAIT)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1011
            redis.start()
            # Once Redis is back, subscribing works again and changes flow.
            with subscribed(server, user) as ws:
                server.cli.run(
                    "deposit", "--uid", user.uid, "--currency", "USDT", "--amount", "1"
                )
                [message] = pushes(ws, 1)
                assert message["data"]["relationEvent"] == "main.deposit"


# --- keep-alive and the announced endpoint --------------------------------------------


@pytest.mark.slow  # seconds of real waiting: the full suite runs it
def test_a_silent_connection_is_closed_and_the_public_url_is_announced(
    tmp_path: Path,
):
    env = {
        "KULEDGER_WS_PING_INTERVAL_MS": "800",
        "KULEDGER_WS_PING_TIMEOUT_MS": "400",
        "KULEDGER_WS_PUBLIC_URL": "wss://ledger.example.test/ws/private",
    }
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with live_server(url, tmp_path, extra_env=env) as server:
        user = make_user(server, "idle", usdt="0")
        data = bullet(server, user)
        [instance] = data["instanceServers"]
        assert instance["endpoint"] == "wss://ledger.example.test/ws/private"
        assert (instance["encrypt"], instance["pingInterval"]) == (True, 800)
        assert instance["pingTimeout"] == 400
        with open_ws(ws_url(server), data["token"]) as ws:
            assert recv(ws)["type"] == "welcome"
            for n in range(4):  # pings keep it open past 1.2 s
                time.sleep(0.6)
                send(ws, {"id": f"p{n}", "type": "ping"})
                assert recv(ws) == {"id": f"p{n}", "type": "pong"}
            started = time.monotonic()
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=WAIT)
            assert 0.8 < time.monotonic() - started < 5


# --- (c) two server processes sharing PostgreSQL and Redis ----------------------------


@pytest.mark.slow  # seconds of real waiting: the full suite runs it
@pytest.mark.postgres
@pytest.mark.redis
def test_changes_made_through_one_server_reach_subscribers_of_the_other(
    postgres_url: str, tmp_path: Path
):
    with redis_server(tmp_path / "redis") as redis:
        env = {"KULEDGER_REDIS_URL": redis.url}
        with live_servers(postgres_url, tmp_path, 2, extra_env=env) as (one, two):
            user = make_user(one, "cross")
            with (
                subscribed(one, user, "on-one") as on_one,
                subscribed(two, user, "on-two") as on_two,
            ):
                flex_transfer(two, user, "5", "MAIN", "TRADE")
                flex_transfer(one, user, "1", "TRADE", "MAIN")
                one.cli.post(
                    [
                        {
                            "op": "deposit",
                            "uid": user.uid,
                            "id": "cross-d1",
                            "currency": "USDT",
                            "amount": "4",
                        }
                    ]
                )
                expected = [
                    ("main.transfer", "-5", "995"),
                    ("trade.transfer", "5", "5"),
                    ("trade.transfer", "-1", "4"),
                    ("main.transfer", "1", "996"),
                    ("main.deposit", "4", "1000"),
                ]
                for ws in (on_one, on_two):
                    got = pushes(ws, 5)
                    assert [
                        (
                            m["data"]["relationEvent"],
                            m["data"]["availableChange"],
                            m["data"]["total"],
                        )
                        for m in got
                    ] == expected


@pytest.mark.slow  # seconds of real waiting: the full suite runs it
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="finds workers through /proc"
)
def test_with_two_workers_every_subscriber_sees_every_change(
    postgres_url: str, tmp_path: Path
):
    with redis_server(tmp_path / "redis") as redis:
        env = {"KULEDGER_REDIS_URL": redis.url}
        with live_server(postgres_url, tmp_path, extra_env=env, workers=2) as server:
            assert wait_for(lambda: len(worker_pids(server.process.pid)) == 2, 10)
            workers = worker_pids(server.process.pid)
            user = make_user(server, "workers")
            port = int(server.base_url.rsplit(":", 1)[1])
            with ExitStack() as stack:
                # Only the WebSockets stay connected (tokens come over
                # Connection: close), until both workers hold some.
                client = httpx.Client(timeout=30, headers={"Connection": "close"})
                stack.callback(client.close)
                closing = replace(server, http=client)
                sockets: list[ClientConnection] = []
                owners: Counter[int] = Counter()
                while set(owners) != set(workers) and len(sockets) < 32:
                    name = f"w{len(sockets)}"
                    sockets.append(stack.enter_context(subscribed(closing, user, name)))

                    def only_websockets() -> bool:
                        nonlocal owners
                        owners = connections_by_process(workers, port)
                        return sum(owners.values()) == len(sockets)

                    assert wait_for(only_websockets, 5), owners
                assert set(owners) == set(workers), f"connections: {owners}"
                for amount in ("1", "2", "3", "4"):  # new connections: any worker
                    flex_transfer(closing, user, amount, "MAIN", "TRADE")
                expected = [
                    (event, sign + amount)
                    for amount in ("1", "2", "3", "4")
                    for event, sign in (("main.transfer", "-"), ("trade.transfer", ""))
                ]
                for ws in sockets:
                    got = pushes(ws, 8)
                    assert [
                        (m["data"]["relationEvent"], m["data"]["availableChange"])
                        for m in got
                    ] == expected
