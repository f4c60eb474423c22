"""Every error path answers exactly KuCoin's envelope: a JSON object with the
keys code (six digits, a string) and msg, nothing else, as application/json,
with the right HTTP status. And the access log: one JSON line per request,
never a secret.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from kuledger.config import sqlite_file
from kuledger.http.app import MAX_BODY_BYTES
from kuledger.http.endpoints import ENDPOINTS
from kuledger_client.signing import sign, sign_passphrase
from tests.conftest import PostgresDatabases
from tests.support.api import (
    LEDGER,
    assert_error,
    new_uid,
    now_ms,
    ok_data,
    send,
    signed_headers,
)
from tests.support.server import ApiUser, Server
from tests.support.shared import ENGINES, engine_app

ALWAYS_LIMITED = "/api/v1/hf/accounts/opened"  # weighs more than its pool holds
POSTS = [e for e in ENDPOINTS if e.method == "POST"]


@pytest.fixture(scope="module", params=ENGINES)
def shape_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[Server]:
    env = {"KULEDGER_RATELIMIT_WEIGHTS": f"GET {ALWAYS_LIMITED}=4001"}
    with engine_app(request.param, tmp_path_factory, postgres_databases, env) as server:
        yield server


@dataclass(frozen=True)
class Callers:
    full: ApiUser  # General, Spot, FlexTransfers
    spot_only: ApiUser
    outside: ApiUser  # whitelisted for 10.0.0.0/8 only


@pytest.fixture(scope="module")
def callers(shape_server: Server) -> Callers:
    uid = new_uid("shape")
    full = shape_server.add_user(
        uid, permissions="General,Spot,FlexTransfers,Withdrawal"
    )
    shape_server.cli.post(
        [{"op": "deposit", "uid": uid, "id": "d", "currency": "USDT", "amount": "5"}]
    )
    return Callers(
        full,
        shape_server.add_key(uid, permissions="Spot"),
        shape_server.add_key(uid, ip="10.0.0.0/8"),
    )


Call = Callable[[Server, Callers], httpx.Response]


def signed_get(path: str, who: str = "full", **changes: str) -> Call:
    def call(server: Server, callers: Callers) -> httpx.Response:
        user = getattr(callers, who)
        headers = signed_headers(user, "GET", path)
        headers.update(changes)
        return send(server, "GET", path, headers)

    return call


def plain(method: str, path: str) -> Call:
    return lambda server, _callers: send(server, method, path)


def _stale(server: Server, callers: Callers) -> httpx.Response:
    headers = signed_headers(callers.full, "GET", LEDGER, timestamp=now_ms() - 60_000)
    return send(server, "GET", LEDGER, headers)


def _wrong_passphrase(server: Server, callers: Callers) -> httpx.Response:
    user = callers.full
    headers = signed_headers(user, "GET", LEDGER)
    headers["KC-API-PASSPHRASE"] = sign_passphrase(user.secret, "wrong", 3)
    return send(server, "GET", LEDGER, headers)


def _bad_signature(server: Server, callers: Callers) -> httpx.Response:
    headers = signed_headers(callers.full, "GET", LEDGER)
    headers["KC-API-SIGN"] = sign("not-the-secret", "1", "GET", LEDGER)
    return send(server, "GET", LEDGER, headers)


CASES = [
    pytest.param(plain("GET", "/nope"), 404, "404000", id="404-root"),
    pytest.param(plain("GET", "/api/v1/nope"), 404, "404000", id="404-api"),
    pytest.param(plain("POST", "/nope"), 404, "404000", id="404-post"),
    pytest.param(
        signed_get("/api/v1/accounts/ledgers/extra"), 404, "404000", id="404-signed"
    ),
    pytest.param(plain("POST", LEDGER), 405, "405000", id="405-post-ledger"),
    pytest.param(plain("DELETE", "/api/v1/accounts"), 405, "405000", id="405-delete"),
    pytest.param(plain("PUT", "/api/v1/timestamp"), 405, "405000", id="405-put"),
    pytest.param(plain("POST", "/openapi.json"), 405, "405000", id="405-openapi"),
    pytest.param(signed_get(f"{LEDGER}?pageSize=1"), 200, "400100", id="400100"),
    pytest.param(
        signed_get(f"{LEDGER}?currency=A&currency=B"), 200, "400100", id="400100-dup"
    ),
    pytest.param(plain("GET", LEDGER), 400, "400001", id="400001"),
    pytest.param(_stale, 400, "400002", id="400002"),
    pytest.param(
        signed_get(LEDGER, **{"KC-API-KEY": "f" * 24}), 401, "400003", id="400003"
    ),
    pytest.param(_wrong_passphrase, 401, "400004", id="400004"),
    pytest.param(_bad_signature, 401, "400005", id="400005"),
    pytest.param(signed_get(LEDGER, "outside"), 403, "400006", id="400006"),
    pytest.param(signed_get(LEDGER, "spot_only"), 403, "400007", id="400007"),
    pytest.param(
        signed_get(LEDGER, **{"KC-API-KEY-VERSION": "9"}), 400, "400009", id="400009"
    ),
    pytest.param(signed_get("/api/v1/accounts/no-such-id"), 200, "230008", id="230008"),
    pytest.param(signed_get(ALWAYS_LIMITED), 429, "429000", id="429000"),
]


@pytest.mark.parametrize(("call", "status", "code"), CASES)
def test_every_error_is_exactly_the_kucoin_envelope(
    shape_server, callers, call, status, code
):
    assert_error(call(shape_server, callers), status, code)


@pytest.mark.parametrize("endpoint", POSTS, ids=lambda e: f"{e.method} {e.path}")
def test_a_body_over_64_kib_is_413000(shape_server, callers, endpoint):
    body = '{"pad":"' + "x" * MAX_BODY_BYTES + '"}'
    before = len(access_lines(shape_server))
    try:
        signed = shape_server.signed(callers.full, "POST", endpoint.path, body)
        unsigned = send(shape_server, "POST", endpoint.path, body=body.encode())
    except httpx.TransportError as exc:
        pytest.fail(f"the connection failed instead of answering 413000: {exc!r}")
    assert_error(signed, 413, "413000")
    assert_error(unsigned, 413, "413000")  # refused before authentication
    lines = _wait_for(
        lambda: access_lines(shape_server)[before:], lambda found: len(found) >= 2
    )
    assert [(line["status"], line["code"]) for line in lines] == [
        (413, "413000"),
        (413, "413000"),
    ]
    assert "Exception in ASGI application" not in shape_server.log()


# POST endpoints that take no body (KuCoin's WebSocket token endpoints).
NO_BODY = {"/api/v1/bullet-private", "/api/v1/bullet-public"}


@pytest.mark.parametrize(
    "endpoint",
    [e for e in POSTS if e.path not in NO_BODY],
    ids=lambda e: f"{e.method} {e.path}",
)
def test_a_body_that_is_not_json_is_refused(shape_server, callers, endpoint):
    response = shape_server.signed(
        callers.full,
        "POST",
        endpoint.path,
        "currency=USDT",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(response, 415, "415000")
    response = shape_server.signed(callers.full, "POST", endpoint.path, "{not json")
    assert_error(response, 200, "400100", msg_contains="body")


# --- 500 ---


@dataclass
class Breaker:
    """Renames a table under the running server, and back."""

    url: str

    def _execute(self, sql: str) -> None:
        path = sqlite_file(self.url)
        if path is not None:
            with closing(sqlite3.connect(path)) as conn:
                conn.execute(sql)
            return
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '10s'")  # never wait on the server
            conn.execute(sql)  # type: ignore[arg-type]

    def rename(self, old: str, new: str) -> None:
        self._execute(f"ALTER TABLE {old} RENAME TO {new}")


def test_an_internal_error_is_500000_with_the_traceback_only_in_the_log(
    shape_server, callers
):
    uid = new_uid("doomed")
    user = shape_server.add_user(uid)
    deposit = {"op": "deposit", "currency": "USDT", "amount": "1"}
    shape_server.cli.post([{**deposit, "uid": uid, "id": "d"}])
    breaker = Breaker(shape_server.cli.env["KULEDGER_DATABASE_URL"])
    logged_before = shape_server.log().count("Traceback (most recent call last)")
    breaker.rename("entries", "entries_gone")
    try:
        response = shape_server.signed(user, "GET", LEDGER)
    finally:
        breaker.rename("entries_gone", "entries")
    assert_error(response, 500, "500000")
    assert response.json() == {"code": "500000", "msg": "Internal Server Error"}
    for leak in ("Traceback", "entries", "sqlite", "psycopg", "File "):
        assert leak not in response.text
    log = _wait_for(
        lambda: shape_server.log(),
        lambda text: text.count("Traceback (most recent call last)") > logged_before,
    )
    assert "entries" in log.split("Traceback (most recent call last)")[-1]
    ok_data(shape_server.signed(user, "GET", LEDGER))  # the server carries on


def _wait_for(read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    """The log is written after the response is sent: poll it briefly."""
    deadline = time.monotonic() + 10
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    assert done(value), value
    return value


# --- the access log ---

ACCESS_FIELDS = {"time", "method", "path", "status", "code", "latency_ms", "uid"}


def access_lines(server: Server) -> list[dict[str, Any]]:
    lines = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if "latency_ms" in entry:
                lines.append(entry)
    return lines


def test_the_access_log_has_one_line_per_request_and_no_secrets(shape_server, callers):
    server, user = shape_server, callers.full
    before = len(access_lines(server))
    sent_headers: list[dict[str, str]] = []

    def signed(path: str, **changes: str) -> None:
        headers = signed_headers(user, "GET", path)
        headers.update(changes)
        sent_headers.append(headers)
        send(server, "GET", path, headers)

    started = time.time()
    signed(LEDGER)
    signed(f"{LEDGER}?pageSize=1")
    signed(LEDGER, **{"KC-API-PASSPHRASE": sign_passphrase(user.secret, "x", 3)})
    signed(LEDGER, **{"KC-API-SIGN": sign(user.secret, "1", "GET", "/")})
    signed(ALWAYS_LIMITED)
    send(server, "GET", "/nope")
    send(server, "POST", LEDGER)
    send(server, "GET", "/api/v1/timestamp")
    expected = [
        ("GET", LEDGER, 200, "200000", user.uid),
        ("GET", LEDGER, 200, "400100", user.uid),
        ("GET", LEDGER, 401, "400004", None),
        ("GET", LEDGER, 401, "400005", None),
        ("GET", ALWAYS_LIMITED, 429, "429000", user.uid),
        ("GET", "/nope", 404, "404000", None),
        ("POST", LEDGER, 405, "405000", None),
        ("GET", "/api/v1/timestamp", 200, "200000", None),
    ]
    lines = _wait_for(
        lambda: access_lines(server)[before:],
        lambda found: len(found) >= len(expected),
    )
    assert len(lines) == len(expected), lines
    for line, (method, path, status, code, uid) in zip(lines, expected, strict=True):
        assert set(line) >= ACCESS_FIELDS, line
        assert (line["method"], line["path"], line["status"]) == (method, path, status)
        assert (line["code"], line["uid"]) == (code, uid), line
        assert isinstance(line["latency_ms"], int | float)
        assert line["latency_ms"] >= 0
        assert started - 1 <= line["time"] <= time.time() + 1
    log = server.log()
    secrets = {user.secret, user.passphrase, sign_passphrase(user.secret, "x", 3)}
    for headers in sent_headers:
        secrets |= {headers["KC-API-SIGN"], headers["KC-API-PASSPHRASE"]}
    for secret in secrets:
        assert secret not in log
