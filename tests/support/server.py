"""Running the real `kuledger serve` in a subprocess, and the CLI, for e2e tests.

`Server` is what a test sees of a running API, wherever it runs: its base URL
and HTTP client, the CLI on its database, users and signed requests. A
`LiveServer` is a `kuledger serve` process on a port; `tests.support.inprocess`
serves the same application inside the test process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kuledger_client.signing import auth_headers

KULEDGER = [sys.executable, "-m", "kuledger"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CliCommands:
    """What tests do with the CLI, given `run` (a subprocess or in process)."""

    env: dict[str, str]

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        raise NotImplementedError

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args))

    def post(self, operations: list[dict[str, Any]], atomic: bool = True) -> list[Any]:
        text = "\n".join(json.dumps(op) for op in operations) + "\n"
        out = self.run("post", *(["--atomic"] if atomic else []), stdin=text)
        return [json.loads(line) for line in out.splitlines()]


@dataclass
class Cli(CliCommands):
    """Runs `python -m kuledger ...` against one database."""

    env: dict[str, str]

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [*KULEDGER, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"kuledger {' '.join(args)} failed: {done.stderr}{done.stdout}"
            )
        return done.stdout


@dataclass
class ApiUser:
    uid: str
    key: str
    secret: str
    passphrase: str
    key_version: int = 3


class Server:
    """A running API as tests use it (see the module docstring)."""

    base_url: str
    cli: CliCommands
    users: dict[str, ApiUser]
    http: httpx.Client

    def add_user(
        self,
        uid: str,
        *,
        permissions: str = "General",
        key_version: int = 3,
        parent: str | None = None,
        hf: bool = False,
        ip: str = "",
        vip: int = 0,
    ) -> ApiUser:
        args = ["users", "create", "--uid", uid, "--json", "--vip", str(vip)]
        if parent:
            args += ["--parent", parent]
        if hf:
            args.append("--hf")
        self.cli.run(*args)
        return self.add_key(
            uid, permissions=permissions, key_version=key_version, ip=ip
        )

    def add_key(
        self,
        uid: str,
        *,
        permissions: str = "General",
        key_version: int = 3,
        ip: str = "",
    ) -> ApiUser:
        created = self.cli.json(
            "keys",
            "create",
            "--uid",
            uid,
            "--permissions",
            permissions,
            "--key-version",
            str(key_version),
            "--ip",
            ip,
            "--json",
        )
        user = ApiUser(
            uid, created["key"], created["secret"], created["passphrase"], key_version
        )
        self.users.setdefault(uid, user)
        return user

    def signed(
        self,
        user: ApiUser,
        method: str,
        path_and_query: str,
        body: str = "",
        *,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        ts = str(timestamp if timestamp is not None else int(time.time() * 1000))
        all_headers = auth_headers(
            user.key,
            user.secret,
            user.passphrase,
            ts,
            method,
            path_and_query,
            body,
            user.key_version,
        )
        all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        return self.http.request(
            method,
            self.base_url + path_and_query,
            headers=all_headers,
            content=body.encode() if body else None,
        )

    def new_client(self) -> httpx.Client:
        """An HTTP client of a caller's own (on a real server: its own
        connections)."""
        raise NotImplementedError

    def log(self) -> str:
        """What the server logged: access lines and errors."""
        raise NotImplementedError


@dataclass
class LiveServer(Server):
    base_url: str
    cli: CliCommands
    process: subprocess.Popen[bytes]
    log_path: Path
    users: dict[str, ApiUser] = field(default_factory=dict)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def new_client(self) -> httpx.Client:
        return httpx.Client(timeout=60)

    def log(self) -> str:
        return self.log_path.read_text()


def database_env(database_url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KULEDGER_")}
    env.update(
        {
            "KULEDGER_DATABASE_URL": database_url,
            "KULEDGER_SECRET_KEY": "e2e-secret-key-material",
            "KULEDGER_LOG_LEVEL": "info",
        }
    )
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@contextmanager
def live_server(
    database_url: str,
    workdir: Path,
    *,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
    port: int | None = None,
    setup_cli: Callable[[dict[str, str]], CliCommands] | None = None,
    preexec_fn: Callable[[], None] | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[LiveServer]:
    """`kuledger init`, then `kuledger serve` on a free port until the block ends
    (`args`: serve's other options).

    `setup_cli` runs `init` and the tests' setup commands: by default the
    real command group in this process (`InProcessCli`: no interpreter start
    per command), or `Cli`, a `kuledger` process each, where a test needs one.
    `preexec_fn` runs in the server's process before it starts (e.g. setrlimit)."""
    env = database_env(database_url, workdir)
    env.update(extra_env or {})
    if setup_cli is None:
        from tests.support.inprocess import InProcessCli  # it imports this module

        setup_cli = InProcessCli
    cli = setup_cli(env)
    cli.run("init")
    port = port or free_port()
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*KULEDGER, "serve", "--port", str(port), "--workers", str(workers), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", cli, process, log_path)
    try:
        _wait_until_up(server)
        yield server
    finally:
        server.http.close()
        stop(process)


def _wait_until_up(server: LiveServer, timeout: float = 90) -> None:
    # Generous: two workers on a loaded 2-core machine took over 30 s to start
    # (a hung server still fails here, and one that exits fails at once).
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"kuledger serve exited:\n{server.log()}")
        try:
            if (
                httpx.get(server.base_url + "/api/v1/timestamp", timeout=1).status_code
                == 200
            ):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"kuledger serve did not start in {timeout}s:\n{server.log()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
