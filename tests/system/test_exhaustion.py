"""What an unauthenticated client can hold of a `kuledger serve` worker
(issue 21): clients that pipeline requests and never read the answers, idle
and partial-header connections, more connections than the cap, and a flood
past the open-file limit. Each test is bounded in connections and in time, and
a normal client is served throughout.

Before the limits: the pipelining clients took the worker from about 85 MB to
over 1 GB in twelve seconds, idle and partial connections stayed open for ever,
and a flood used up the descriptors.
"""

from __future__ import annotations

import os
import resource
import selectors
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from kuledger.http.server_limits import descriptor_budget
from tests.support.inprocess import InProcessCli
from tests.support.server import LiveServer, live_server
from tests.system.processes import connections_by_process, wait_for

pytestmark = pytest.mark.slow

PING = "/api/v1/timestamp"
WEBSOCKET_UPGRADE = (
    b"GET /ws/private?token=x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)
QUIET = {"KULEDGER_RATELIMIT": "off", "KULEDGER_LOG_LEVEL": "warning"}


@contextmanager
def serving(tmp_path: Path, **env: str) -> Iterator[LiveServer]:
    with live_server(
        f"sqlite:///{tmp_path}/ledger.db",
        tmp_path,
        extra_env={**QUIET, **env},
        setup_cli=InProcessCli,
    ) as server:
        yield server


def port_of(server: LiveServer) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def status_value(pid: int, field: str) -> int:
    """A `kB` or count field of /proc/<pid>/status, e.g. VmRSS."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def open_connections(port: int, count: int) -> list[socket.socket]:
    """`count` connected sockets, connected without waiting on each other;
    ones the server refused or reset at once are left out."""
    pending = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        pending.append(sock)
    connected = []
    with selectors.DefaultSelector() as selector:
        for sock in pending:
            selector.register(sock, selectors.EVENT_WRITE)
        deadline = time.monotonic() + 5
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                selector.unregister(sock)
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    connected.append(sock)
                else:
                    sock.close()
        for key in list(selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
    return connected


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True  # reset


def serves(server: LiveServer, client: httpx.Client) -> bool:
    return client.get(server.base_url + PING).status_code == 200


def test_pipelining_clients_that_never_read_are_bounded_then_closed(tmp_path):
    """20 clients each write up to 6 MB of pipelined 404s and read nothing:
    the worker's resident memory grows by less than 64 MB (without the bound,
    by some 200 MB a second). Then one client pipelines requests for 11 kB
    answers and reads nothing: once its answers have waited
    KULEDGER_SEND_TIMEOUT_S, the server closes the connection."""
    with serving(tmp_path, KULEDGER_SEND_TIMEOUT_S="1") as server:
        pid, port = server.process.pid, port_of(server)
        before = status_value(pid, "VmRSS")
        batch = b"GET /no/such/path HTTP/1.1\r\nHost: a\r\n\r\n" * 1000
        clients = open_connections(port, 20)
        assert len(clients) == 20
        sent = dict.fromkeys(clients, 0)
        peak = before
        deadline = time.monotonic() + 4
        while sent and time.monotonic() < deadline:
            for sock in list(sent):
                with suppress(BlockingIOError):
                    sent[sock] += sock.send(batch)
                if sent[sock] >= 6_000_000:
                    del sent[sock]
            peak = max(peak, status_value(pid, "VmRSS"))
            time.sleep(0.01)
        grown_mb = (peak - before) // 1024
        assert grown_mb < 64, f"RSS grew by {grown_mb} MB (from {before // 1024} MB)"
        with httpx.Client(timeout=10) as normal:
            assert serves(server, normal)
        for sock in clients:
            sock.close()

        assert wait_for(lambda: not connections_by_process([pid], port)[pid], 5)
        (stalled,) = open_connections(port, 1)
        with stalled:
            big = b"GET /api/v1/contracts/active HTTP/1.1\r\nHost: a\r\n\r\n"
            stalled.setblocking(True)
            stalled.sendall(big * 2000)  # 22 MB of answers: more than buffers hold
            assert wait_for(lambda: not connections_by_process([pid], port)[pid], 8), (
                "the server still holds a connection that reads nothing"
            )


def test_idle_and_partial_header_connections_are_closed_by_the_request_timeout(
    tmp_path,
):
    """150 idle connections and 150 that send a partial request and then a
    header byte every 0.2 s (slowloris) are closed after
    KULEDGER_REQUEST_TIMEOUT_S, while a keep-alive client is served."""
    with serving(tmp_path, KULEDGER_REQUEST_TIMEOUT_S="1") as server:
        port = port_of(server)
        with httpx.Client(timeout=10) as normal, ExitStack() as stack:
            assert serves(server, normal)
            idle = open_connections(port, 150)
            partial = open_connections(port, 150)
            for sock in idle + partial:
                stack.callback(sock.close)
            assert len(idle) == len(partial) == 150
            for sock in partial:
                sock.send(b"GET /api/v1/timestamp HTTP/1.1\r\nHost: a\r\nX-Slow: ")
            open_ = set(idle + partial)
            deadline = time.monotonic() + 6
            while open_ and time.monotonic() < deadline:
                assert serves(server, normal)
                for sock in list(open_):
                    if sock in partial:
                        try:
                            sock.send(b"x")
                        except OSError:
                            open_.discard(sock)
                            continue
                    if closed_by_server(sock):
                        open_.discard(sock)
                time.sleep(0.2)
            assert not open_, f"{len(open_)} of 300 connections still open"
        with httpx.Client(timeout=10) as fresh:
            assert serves(server, fresh)


def test_connections_over_the_cap_are_answered_503000(tmp_path):
    """With KULEDGER_MAX_CONNECTIONS=20 and 20 idle connections open, a new
    request is answered 503 with KuCoin's envelope and its connection closed,
    and so is a WebSocket upgrade; once the idle ones go, requests are served
    again."""
    with serving(tmp_path, KULEDGER_MAX_CONNECTIONS="20") as server:
        idle = open_connections(port_of(server), 20)
        assert len(idle) == 20
        with httpx.Client(timeout=10) as client:
            response = client.get(server.base_url + PING)
        assert response.status_code == 503
        assert response.json()["code"] == "503000"
        assert response.headers["connection"] == "close"
        with socket.create_connection(("127.0.0.1", port_of(server)), 5) as ws:
            ws.sendall(WEBSOCKET_UPGRADE)
            assert ws.recv(65536).startswith(b"HTTP/1.1 503 ")
        for sock in idle:
            sock.close()
        with httpx.Client(timeout=10) as client:
            assert wait_for(lambda: serves(server, client), 5)


def _open_files(soft: int, hard: int):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return limit


def test_a_flood_past_the_open_file_limit_is_refused_before_descriptors_run_out(
    tmp_path,
):
    """A worker started with open files 256 (soft) / 400 (hard) raises the soft
    limit to 400. 450 connections arrive at once: those past its budget are
    closed at accept, the worker never runs out of descriptors, a keep-alive
    client is served during the flood and a new one after it."""
    database = f"sqlite:///{tmp_path}/ledger.db"
    with live_server(
        database,
        tmp_path,
        extra_env=QUIET,
        setup_cli=InProcessCli,
        preexec_fn=_open_files(256, 400),
    ) as server:
        pid, port = server.process.pid, port_of(server)
        limits = Path(f"/proc/{pid}/limits").read_text()
        assert [
            line.split()[3:5] for line in limits.splitlines() if "open files" in line
        ] == [["400", "400"]]
        with httpx.Client(timeout=10) as normal, ExitStack() as stack:
            assert serves(server, normal)
            peak_fds = 0
            flood: list[socket.socket] = []
            for _ in range(3):
                flood += open_connections(port, 150)
                peak_fds = max(peak_fds, len(os.listdir(f"/proc/{pid}/fd")))
                assert serves(server, normal)
            for sock in flood:
                stack.callback(sock.close)
            time.sleep(0.5)  # for the accepts of the last burst
            peak_fds = max(peak_fds, len(os.listdir(f"/proc/{pid}/fd")))
            assert serves(server, normal)
            # Room is left for the database files and connections.
            assert peak_fds < 400 - 64, peak_fds
            cap, _ = descriptor_budget(400, pool_size=5, threads=8)
            held = connections_by_process([pid], port)[pid]
            assert cap // 2 < held <= cap + 1, (held, cap)
        assert "Too many open files" not in server.log()
        assert "out of system resource" not in server.log()
        with httpx.Client(timeout=10) as fresh:
            assert wait_for(lambda: serves(server, fresh), 5)
