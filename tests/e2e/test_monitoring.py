"""The monitoring app (/healthz, /readyz, /metrics), in process: readiness over
the real database, and the metrics that requests to the in-process API record.

The metrics live in this process's prometheus-client registry, shared by every
test the process runs: each test compares a scrape after its calls with one
before them. The listener's own socket and several workers are
tests/system/test_monitoring.py's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp, Message

from kuledger.bootstrap import Container, build_monitoring_app
from kuledger.config import Settings
from kuledger.http.access_log import AccessLogMiddleware
from kuledger.http.monitoring import RequestMetrics
from kuledger.services import ledger
from kuledger.services.users import create_user
from kuledger.storage import migrate
from kuledger.storage.sql import SqlUnitOfWork
from tests.conftest import make_container
from tests.support.inprocess import InProcessServer, PortalTransport, in_process_server

MONITORED = {"KULEDGER_MONITOR_PORT": "9108"}  # in process: no port is opened
INNER = "/api/v2/accounts/inner-transfer"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@contextmanager
def serving(app: ASGIApp) -> Iterator[httpx.Client]:
    """An HTTP client of `app`, run on an event loop of its own."""
    with (
        start_blocking_portal() as portal,
        httpx.Client(
            transport=PortalTransport(app, portal), base_url="http://monitor"
        ) as client,
    ):
        yield client


@contextmanager
def monitoring(container: Container) -> Iterator[httpx.Client]:
    try:
        with serving(build_monitoring_app(container)) as client:
            yield client
    finally:
        container.close()


@pytest.fixture
def monitored(database_url: str, tmp_path: Path) -> Iterator[InProcessServer]:
    """The `api` fixture's app, with monitoring on."""
    with in_process_server(database_url, tmp_path, extra_env=MONITORED) as running:
        yield running


@pytest.fixture
def monitor(monitored: InProcessServer) -> Iterator[httpx.Client]:
    """The monitoring app over the monitored server's database."""
    with monitoring(Container(Settings.from_env(monitored.cli.env))) as client:
        yield client


def scrape(monitor: httpx.Client, server: InProcessServer | None = None) -> Samples:
    """What /metrics shows, once `server`'s request tallies are flushed."""
    if server is not None:  # on the server's event loop, where they are kept
        server.transport._portal.call(metrics_of(server).flush)  # type: ignore[attr-defined]
    response = monitor.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def metrics_of(server: InProcessServer) -> RequestMetrics:
    """The RequestMetrics the app's access-log middleware records into."""
    (metrics,) = [
        m.kwargs["metrics"]
        for m in server.app.user_middleware
        if m.cls is AccessLogMiddleware
    ]
    assert isinstance(metrics, RequestMetrics)
    return metrics


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


# --- /healthz and /readyz ----------------------------------------------------------


def test_healthz_answers_while_the_process_runs(sqlite_url: str):
    with monitoring(make_container(sqlite_url)) as monitor:
        response = monitor.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok\n")


def test_readyz_is_ready_on_a_current_database(database_url: str):
    with monitoring(make_container(database_url)) as monitor:
        response = monitor.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "ready": True,
        "checks": {"database": "ok", "migrations": "ok"},
    }


def test_readyz_fails_when_the_database_is_unreachable():
    # Port 1 on 127.0.0.1: nothing listens, the connection is refused at once.
    url = "postgresql://kuledger:pw-not-shown@127.0.0.1:1/x"
    with monitoring(make_container(url)) as monitor:
        response = monitor.get("/readyz")
        samples = scrape(monitor)
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["checks"]["database"].startswith("OperationalError: ")
    assert body["checks"]["migrations"] != "ok"
    assert "pw-not-shown" not in response.text
    # /metrics still answers, and says what /readyz says.
    assert value(samples, "kuledger_ready", check="database") == 0
    assert ("kuledger_verify_last_ok_timestamp_seconds", frozenset()) not in samples


def test_readyz_fails_when_a_migration_is_missing(database_url: str):
    container = make_container(database_url)
    try:
        head = migrate.head_revision()
        migrate.downgrade(container.engine, "-1")
        with serving(build_monitoring_app(container)) as monitor:
            response = monitor.get("/readyz")
            samples = scrape(monitor)
    finally:
        migrate.upgrade(container.engine)  # the PostgreSQL database is reused
        container.close()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert head in checks["migrations"]
    assert "run `kuledger init`" in checks["migrations"]
    assert value(samples, "kuledger_ready", check="migrations") == 0
    assert value(samples, "kuledger_ready", check="database") == 1


def test_readyz_checks_redis_when_it_is_configured(sqlite_url: str):
    container = make_container(sqlite_url, redis_url="redis://127.0.0.1:1/0")
    with monitoring(container) as monitor:
        response = monitor.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert (checks["database"], checks["migrations"]) == ("ok", "ok")
    assert checks["redis"].startswith("ConnectionError: ")


# --- /metrics ----------------------------------------------------------------------


def test_metrics_count_requests_by_endpoint_and_code(monitored, monitor):
    user = monitored.add_user(f"m-{uuid.uuid4().hex[:8]}")

    def status(path: str, method: str = "GET") -> int:
        return monitored.http.request(method, monitored.base_url + path).status_code

    before = scrape(monitor, monitored)
    assert [status("/api/v1/timestamp") for _ in range(3)] == [200] * 3
    accounts = monitored.signed(user, "GET", "/api/v1/accounts")
    assert accounts.json()["code"] == "200000"
    assert status("/api/v1/accounts") == 400  # unsigned: 400001
    assert status("/api/v1/accounts/nosuch") == 400
    assert status("/no/such/path") == 404
    assert status("/api/v1/timestamp", method="BREW") == 405
    children = len(metrics_of(monitored)._tallies)
    after = scrape(monitor, monitored)

    requests = "kuledger_http_requests_total"
    ok = {"status": "200", "code": "200000"}
    unsigned = {"status": "400", "code": "400001"}
    assert grew(before, after, requests, endpoint="GET /api/v1/timestamp", **ok) == 3
    assert grew(before, after, requests, endpoint="GET /api/v1/accounts", **ok) == 1
    assert (
        grew(before, after, requests, endpoint="GET /api/v1/accounts", **unsigned) == 1
    )
    # The route's template, not the path: one series for every account id.
    by_id = "GET /api/v1/accounts/{accountId}"
    assert grew(before, after, requests, endpoint=by_id, **unsigned) == 1
    # Paths and methods no route serves share one label a client cannot multiply.
    other = {"endpoint": "other", "code": "404000"}
    assert grew(before, after, requests, status="404", **other) == 1
    not_allowed = {"endpoint": "other", "status": "405", "code": "405000"}
    assert grew(before, after, requests, **not_allowed) == 1
    assert not any("BREW" in str(labels) for _, labels in after)
    for method in ("BREW1", "BREW2"):  # nor any memory: no key per method
        status("/api/v1/timestamp", method=method)
    assert len(metrics_of(monitored)._tallies) == children

    latency = "kuledger_http_request_duration_seconds"
    timestamp = {"endpoint": "GET /api/v1/timestamp"}
    assert grew(before, after, f"{latency}_count", **timestamp) == 3
    assert grew(before, after, f"{latency}_bucket", le="+Inf", **timestamp) == 3
    assert grew(before, after, f"{latency}_sum", **timestamp) > 0


def test_the_kucoin_port_has_no_monitoring_paths(monitored):
    for path in ("/healthz", "/readyz", "/metrics"):
        response = monitored.http.get(monitored.base_url + path)
        assert response.status_code == 404, path
        assert response.json() == {"code": "404000", "msg": "Url Not Found"}


def test_rate_limit_refusals_are_counted(sqlite_url: str, tmp_path: Path):
    env = {**MONITORED, "KULEDGER_RATELIMIT_QUOTAS": "Public=6"}
    with (
        in_process_server(sqlite_url, tmp_path, extra_env=env) as server,
        monitoring(Container(Settings.from_env(server.cli.env))) as monitor,
    ):
        before = scrape(monitor, server)
        timestamp = server.base_url + "/api/v1/timestamp"
        codes = [server.http.get(timestamp).json()["code"] for _ in range(5)]
        after = scrape(monitor, server)
    assert codes == ["200000"] * 2 + ["429000"] * 3  # the endpoint weighs 3
    refusals = "kuledger_ratelimit_refusals_total"
    assert grew(before, after, refusals, endpoint="GET /api/v1/timestamp") == 3


def test_write_batch_sizes_are_the_operations_each_commit_wrote(monitored, monitor):
    uid = f"w-{uuid.uuid4().hex[:8]}"
    user = monitored.add_user(uid, permissions="General,Spot")
    deposit = {"op": "deposit", "uid": uid, "id": "fund"}
    monitored.cli.post([{**deposit, "currency": "USDT", "amount": "10"}])
    before = scrape(monitor, monitored)
    body = {"currency": "USDT", "amount": "1", "from": "main", "to": "trade"}
    first = json.dumps({**body, "clientOid": "once"})
    for _ in range(2):  # the replay writes nothing
        assert monitored.signed(user, "POST", INNER, first).json()["code"] == "200000"
    after = scrape(monitor, monitored)
    batch = "kuledger_write_batch_operations"
    assert grew(before, after, f"{batch}_count") == 1
    assert grew(before, after, f"{batch}_bucket", le="1.0") == 1


def test_a_batch_commit_reports_its_operation_count(sqlite_url: str):
    container = make_container(sqlite_url)
    seen: list[int] = []

    def measured() -> SqlUnitOfWork:
        return SqlUnitOfWork(container.engine, seen.append)

    try:
        create_user(measured, lambda: 1, uid="batcher")  # writes no operation
        payloads = [
            {"op": "deposit", "uid": "batcher", "id": f"d{i}", "currency": "USDT"}
            | {"amount": "1"}
            for i in range(3)
        ]
        ledger.apply_batch(measured, payloads, lambda: 1)
        ledger.apply_batch(measured, payloads, lambda: 1)  # all three replayed
    finally:
        container.close()
    assert seen == [3]


def test_websocket_connections_are_counted_while_open(monitored, monitor):
    user = monitored.add_user(f"ws-{uuid.uuid4().hex[:8]}")
    token = monitored.signed(user, "POST", "/api/v1/bullet-private").json()["data"]
    gauge = "kuledger_websocket_connections"
    before = value(scrape(monitor), gauge)
    query = f"token={token['token']}&connectId=c1"
    with open_websocket(monitored.app, "/ws/private", query) as welcome:
        assert json.loads(welcome["text"]) == {"id": "c1", "type": "welcome"}
        during = value(scrape(monitor), gauge)
    after = value(scrape(monitor), gauge)
    assert (during - before, after - before) == (1, 0)


@contextmanager
def open_websocket(app: ASGIApp, path: str, query: str) -> Iterator[Message]:
    """A WebSocket session with `app`, driven through ASGI (httpx has no
    WebSocket client): connect, wait for the first frame (yielded), disconnect
    when the block ends."""
    first: list[Message] = []
    arrived, leaving = anyio.Event(), anyio.Event()
    connect: list[Message] = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        if connect:
            return connect.pop()
        await leaving.wait()
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        if message["type"] == "websocket.send" and not first:
            first.append(message)
            arrived.set()

    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "subprotocols": [],
    }
    with start_blocking_portal() as portal:
        session = portal.start_task_soon(app, scope, receive, send)
        portal.call(_within, 10, arrived.wait)
        try:
            yield first[0]
        finally:
            portal.call(leaving.set)
            session.result(timeout=10)


def test_verify_status_is_read_from_the_database(monitored, monitor):
    uid = f"v-{uuid.uuid4().hex[:8]}"
    monitored.add_user(uid)
    deposit = {"op": "deposit", "uid": uid, "id": "fund", "currency": "USDT"}
    monitored.cli.post([{**deposit, "amount": "5"}])
    last_ok = "kuledger_verify_last_ok_timestamp_seconds"
    assert value(scrape(monitor), last_ok) == 0  # never verified
    monitored.cli.run("verify")
    after = scrape(monitor)
    assert value(after, last_ok) > 1_700_000_000
    assert value(after, "kuledger_verify_checkpointed_accounts") >= 1


async def _within(seconds: float, wait: Any) -> None:
    """Bounds a hang; times nothing."""
    with anyio.fail_after(seconds):
        await wait()
