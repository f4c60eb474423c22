"""The monitoring listener of a real `kuledger serve`: its own port on
127.0.0.1, the workers' metrics added up, and Redis in /readyz."""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from kuledger.bootstrap import build_monitoring_app
from kuledger.cli.main import cli
from tests.conftest import make_container
from tests.e2e.test_monitoring import serving
from tests.support.inprocess import InProcessCli
from tests.support.server import database_env, free_port, live_server
from tests.system.processes import RedisServer, add_users, wait_for, worker_pids

TIMESTAMP = {"endpoint": "GET /api/v1/timestamp", "status": "200", "code": "200000"}


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(url + "/metrics", timeout=10)
    assert response.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def timestamps(url: str) -> float:
    key = ("kuledger_http_requests_total", frozenset(TIMESTAMP.items()))
    return scrape(url).get(key, 0.0)


def websockets_open(url: str) -> float:
    return scrape(url).get(("kuledger_websocket_connections", frozenset()), 0.0)


@pytest.mark.slow
@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="finds workers through /proc"
)
def test_two_workers_metrics_add_up_on_a_listener_of_its_own(tmp_path: Path):
    port = free_port()
    monitor = f"http://127.0.0.1:{port}"
    env = {"KULEDGER_MONITOR_PORT": str(port)}
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with live_server(
        url, tmp_path, extra_env=env, workers=2, setup_cli=InProcessCli
    ) as server:
        assert wait_for(lambda: len(worker_pids(server.process.pid)) == 2, 10)
        found = re.search(r"workers' metrics in (\S+)", server.log())
        assert found, server.log()
        directory = Path(found.group(1))

        assert httpx.get(monitor + "/healthz").text == "ok\n"
        ready = httpx.get(monitor + "/readyz")
        assert (ready.status_code, ready.json()["ready"]) == (200, True)
        # Bound to 127.0.0.1 only: another loopback address is refused.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", port), timeout=5).close()
        # The KuCoin port has none of it.
        for path in ("/healthz", "/readyz", "/metrics"):
            response = httpx.get(server.base_url + path)
            assert response.status_code == 404
            assert response.json() == {"code": "404000", "msg": "Url Not Found"}

        # New connections until both workers have answered some (the kernel
        # picks the worker); every answer is counted once, whichever did.
        # The one answer live_server waited for, once its worker has flushed.
        assert wait_for(lambda: timestamps(monitor) == 1, 10)
        sent = 0
        for _ in range(20):
            for _ in range(10):
                with httpx.Client() as client:
                    client.get(server.base_url + "/api/v1/timestamp")
                sent += 1
            if len(list(directory.glob("counter_*.db"))) == 2:
                break
        writers = sorted(int(p.stem.split("_")[1]) for p in directory.glob("counter_*"))
        assert writers == worker_pids(server.process.pid)
        # Each worker adds its tally within a second (FLUSH_S); never more.
        assert wait_for(lambda: timestamps(monitor) >= 1 + sent, 10)
        assert timestamps(monitor) == 1 + sent

        # An open WebSocket counts in whichever worker holds it.
        (user,) = add_users(server, "watcher")
        token = server.signed(user, "POST", "/api/v1/bullet-private").json()["data"]
        ws_url = server.base_url.replace("http", "ws", 1)
        with connect(f"{ws_url}/ws/private?token={token['token']}&connectId=w") as ws:
            assert '"welcome"' in str(ws.recv(timeout=10))
            assert websockets_open(monitor) == 1
        assert wait_for(lambda: websockets_open(monitor) == 0, 10)
    assert not directory.exists()  # removed when the server stops


@pytest.mark.redis
def test_readyz_follows_redis(sqlite_url: str, private_redis: RedisServer):
    container = make_container(sqlite_url, redis_url=private_redis.url)
    try:
        with serving(build_monitoring_app(container)) as monitor:
            assert monitor.get("/readyz").json()["checks"]["redis"] == "ok"
            private_redis.kill()
            response = monitor.get("/readyz")
    finally:
        container.close()
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("ConnectionError: ")


def test_a_monitoring_port_in_use_is_one_line_naming_it(tmp_path: Path):
    env = database_env(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path)
    InProcessCli(env).run("init")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli,
            ["serve", "--port", "0"],
            env={**env, "KULEDGER_MONITOR_PORT": str(port)},
        )
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(see KULEDGER_MONITOR_PORT)"
    )
