"""Processes for the system tests: a killable redis-server, several `kuledger
serve` processes (or workers) on shared state, what their workers hold, and
in-process setup of users and history on a server's database."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.services import keys as key_service
from kuledger.services import ledger
from kuledger.services import users as user_service
from tests.support.server import ApiUser, LiveServer, free_port, live_server

IN_CI = os.environ.get("CI") == "true"
LEDGER = "/api/v1/accounts/ledgers"


class RedisServer:
    """One redis-server subprocess on a fixed port that can be killed and
    started again on the same port."""

    def __init__(self, executable: str, port: int, workdir: Path) -> None:
        self.executable = executable
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"redis-{port}.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        assert self.process is None or self.process.poll() is not None
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.executable,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited ({self.process.returncode}):\n"
                    + self.log_path.read_text(errors="replace")
                )
            if self.ping():
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"redis-server did not answer PING in {timeout}s")

    def ping(self) -> bool:
        client = redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: the way a crashed or unreachable Redis looks to clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


@contextmanager
def private_redis_server(workdir: Path) -> Iterator[RedisServer]:
    """A redis-server of the caller's own on a free port, killed at the end
    (skips, or fails under CI, if redis-server is not installed)."""
    import pytest

    executable = shutil.which("redis-server")
    if executable is None:
        if IN_CI:
            pytest.fail("redis-server is required under CI but is not installed")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    workdir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(executable, free_port(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@contextmanager
def live_servers(
    database_url: str,
    workdir: Path,
    count: int,
    *,
    extra_env: dict[str, str] | None = None,
) -> Iterator[list[LiveServer]]:
    """`count` independent `kuledger serve` processes on one database."""
    with ExitStack() as stack:
        servers = []
        for index in range(count):
            own = workdir / f"server{index}"
            own.mkdir()
            servers.append(
                stack.enter_context(live_server(database_url, own, extra_env=extra_env))
            )
        yield servers


def worker_pids(parent: int) -> list[int]:
    """The uvicorn worker processes (multiprocessing spawn children) of `parent`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            pids.append(int(entry.name))
    return sorted(pids)


def connections_by_process(pids: list[int], port: int) -> Counter[int]:
    """How many established TCP connections on local `port` each pid holds."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # ESTABLISHED
                inodes.add(fields[9])
    owners: Counter[int] = Counter()
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            match = re.fullmatch(r"socket:\[(\d+)\]", target)
            if match and match.group(1) in inodes:
                owners[pid] += 1
    return owners


def wait_for(predicate, timeout: float, interval: float = 0.1) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def signed_concurrently(
    servers: list[LiveServer],
    user: ApiUser,
    path: str,
    *,
    threads: int,
    per_thread: int,
) -> list[httpx.Response]:
    """`threads` threads each send `per_thread` signed GETs, rotating over
    `servers`, every request on a new connection (so a multi-worker server
    spreads them over its workers). Every response, in no particular order."""
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def run(offset: int) -> None:
        with httpx.Client(timeout=30) as client:
            own = [replace(server, http=client) for server in servers]
            for turn in range(per_thread):
                server = own[(offset + turn) % len(own)]
                response = server.signed(
                    user, "GET", path, headers={"Connection": "close"}
                )
                with lock:
                    responses.append(response)

    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in pool), "requests hung"
    return responses


def add_users(server: LiveServer, *uids: str) -> list[ApiUser]:
    """Users with a General key each, created in-process on the server's
    database (two CLI runs per user cost about two seconds)."""
    container = Container(Settings.from_env(server.cli.env))
    try:
        created = []
        for uid in uids:
            user_service.create_user(container.uow, container.clock, uid=uid)
            key = key_service.create_key(
                container.uow, container.box, container.clock, uid=uid
            )
            created.append(ApiUser(uid, key.key, key.secret, key.passphrase))
        return created
    finally:
        container.close()


def apply_in_process(server: LiveServer, payloads: list[dict[str, Any]]) -> None:
    """Apply operations as one batch on the server's database, in-process
    (a `kuledger post` run costs a second or two of interpreter start-up)."""
    container = Container(Settings.from_env(server.cli.env))
    try:
        ledger.apply_batch(container.uow, payloads, container.clock)
    finally:
        container.close()
