"""A PostgreSQL primary and its streaming replica, started by the tests.

`PgPair.start()` runs `initdb` for a primary in a temporary directory, starts
it with `pg_ctl` on a free 127.0.0.1 port, copies it with
`pg_basebackup -R` (which writes the standby's `primary_conninfo`) and starts
the copy on a port of its own. The clusters are small and unsafe on purpose
(16 MB of shared buffers, `fsync=off`): they live for one test session.

PostgreSQL refuses to run as root, and the tests run as root here and in
CI: the server binaries then run as the `postgres` OS user, in directories
that user owns. Where the binaries are absent, `binaries_or_skip` skips with
the reason, and under CI=true fails instead.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests.support.server import free_port

IN_CI = os.environ.get("CI", "").lower() == "true"
BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")
_SERVER_SETTINGS = (
    "listen_addresses = '127.0.0.1'",
    "shared_buffers = 16MB",
    "max_connections = 60",
    "fsync = off",
    "full_page_writes = off",
    "wal_level = replica",
    "max_wal_senders = 5",
    "hot_standby = on",
    "hot_standby_feedback = on",
    "wal_receiver_status_interval = 1s",
    "log_min_messages = warning",
)


def find_binaries() -> Path | None:
    """The directory of initdb, pg_ctl and pg_basebackup, if installed."""
    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for directory in (
        os.environ.get("KULEDGER_TEST_PG_BIN", ""),
        *BIN_DIRS,
        *installed,
    ):
        if directory and (Path(directory) / "pg_basebackup").exists():
            return Path(directory)
    return None


def binaries_or_skip() -> Path:
    import pytest  # (bench/replica.py uses the clusters too, without pytest)

    found = find_binaries()
    if found is None:
        reason = f"PostgreSQL server binaries not found in {', '.join(BIN_DIRS)}"
        if IN_CI:
            pytest.fail(f"{reason}: required under CI")
        pytest.skip(reason)
    return found


def _run_as() -> dict[str, Any]:
    """subprocess options: as `postgres` when we are root."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": pwd.getpwnam("postgres").pw_gid}


@dataclass
class PgCluster:
    """One data directory and the server on its port."""

    bin_dir: Path
    data: Path
    port: int
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.data.with_suffix(".log")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, tool: str, *args: str, timeout: float = 120) -> None:
        command = [str(self.bin_dir / tool), *args]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.data.parent,
            **_run_as(),
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited {result.returncode}:\n"
                f"{result.stdout}{result.stderr}{self._log_tail()}"
            )

    def configure(self, *lines: str) -> None:
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`mode`: fast (clean) or immediate (as a crash looks)."""
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def stop_quietly(self) -> None:
        if self.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cursor = conn.execute(sql)
            return list(cursor.fetchall()) if cursor.description else []

    def _log_tail(self) -> str:
        try:
            return "\n--- server log ---\n" + self.log.read_text()[-3000:]
        except OSError:
            return ""


@dataclass
class PgPair:
    """A primary and one streaming replica of it, in `root`."""

    primary: PgCluster
    replica: PgCluster
    root: Path

    @classmethod
    def start(cls, bin_dir: Path) -> PgPair:
        root = Path(tempfile.mkdtemp(prefix="kuledger-pg-"))
        root.chmod(0o755)
        if os.geteuid() == 0:
            os.chown(root, pwd.getpwnam("postgres").pw_uid, -1)
        primary = PgCluster(bin_dir, root / "primary", free_port())
        replica = PgCluster(bin_dir, root / "replica", free_port())
        pair = cls(primary, replica, root)
        try:
            primary.run(
                "initdb", "-D", str(primary.data), "-U", "postgres",
                "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
            )  # fmt: skip
            primary.configure(
                *_SERVER_SETTINGS,
                f"port = {primary.port}",
                f"unix_socket_directories = '{root}'",
            )
            primary.start()
            replica.run(
                "pg_basebackup", "-D", str(replica.data), "-h", "127.0.0.1",
                "-p", str(primary.port), "-U", "postgres", "-R",
                "-X", "stream", "-c", "fast", "--no-sync",
            )  # fmt: skip
            replica.configure(f"port = {replica.port}")
            replica.start()
        except BaseException:
            pair.stop()
            raise
        return pair

    def stop(self) -> None:
        self.replica.stop_quietly()
        self.primary.stop_quietly()
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> tuple[str, str]:
        """A new database on the primary; its URLs on the primary and the replica."""
        self.primary.execute(f'CREATE DATABASE "{name}"')
        return self.primary.url(name), self.replica.url(name)

    def caught_up(self, timeout: float = 30) -> None:
        """Wait until the replica has replayed all the primary has written."""
        (target,) = self.primary.execute("SELECT pg_current_wal_lsn()::text")[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.replica.execute(
                f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
            )[0][0]
            if done:
                return
            time.sleep(0.02)
        raise TimeoutError(f"the replica did not replay up to {target} in {timeout}s")
