"""What every scenario needs: cached seeded databases, servers, wrk, RSS."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import psycopg

from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.services import keys as key_service

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "cache"
DAY = 86_400_000
END_AT = 1_790_000_000_000  # seeded history ends here: fixed, so caches stay valid
Requests = list[tuple[str, dict[str, str]]]  # (path, headers) that wrk replays
SECRET_KEY = "bench-secret-key-material"
POSTGRES_ADMIN = os.environ.get(
    "KULEDGER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
SERVER_ENV = {
    "KULEDGER_SECRET_KEY": SECRET_KEY,
    "KULEDGER_RETENTION_DAYS": "100000",  # the fixed history must stay queryable
    # Requests are signed ahead of the run (wrk cannot HMAC): accept their age.
    "KULEDGER_TIMESTAMP_TOLERANCE_MS": str(7 * DAY),
    "KULEDGER_RATELIMIT_QUOTAS": (
        "Management=2000000000,Spot=2000000000,Public=2000000000"
    ),
    "KULEDGER_LOG_LEVEL": "warning",
}


def base_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KULEDGER_")}
    env.update(SERVER_ENV)
    env["KULEDGER_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def kuledger(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "kuledger", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kuledger {' '.join(args)}: {done.stderr}{done.stdout}")
    return done.stdout


@dataclass(frozen=True)
class Seeded:
    url: str
    users: int
    entries: int
    days: int
    seed: int
    keys: dict[str, dict[str, Any]]  # uid -> key, secret, passphrase

    def uid(self, index: int) -> str:
        return f"seed-{self.seed}-{index:06d}"


def _hash(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


class Dataset(NamedTuple):
    """The parameters of one seeded database (its cache key)."""

    engine: str
    users: int
    entries: int
    days: int
    seed: int = 1
    key_users: int = 40

    def load(self) -> Seeded:
        return seeded(*self)


@functools.cache  # once per run: `kuledger init` and the keys file are not free
def seeded(
    engine: str, users: int, entries: int, days: int, seed: int = 1, key_users: int = 40
) -> Seeded:
    """A database with `kuledger seed` history, cached by its parameters."""
    tag = _hash(users, entries, days, seed, END_AT)
    CACHE.mkdir(parents=True, exist_ok=True)
    keys_file = CACHE / f"{engine}-{tag}.keys.json"
    if engine == "sqlite":
        path = CACHE / f"sqlite-{tag}.db"
        url = f"sqlite:///{path}"
        if not keys_file.exists():  # (written last: the seed is complete)
            _seed(url, users, entries, days, seed)
    else:
        name = f"kuledger_bench_{tag}"
        url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        if not keys_file.exists():  # (written last: the seed is complete)
            if not _postgres_exists(name):
                with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{name}"')
            _seed(url, users, entries, days, seed)
    kuledger(base_env(url), "init")  # a cache made by an older schema is upgraded
    if not keys_file.exists():
        keys_file.write_text(json.dumps(_create_keys(url, users, seed, key_users)))
    return Seeded(url, users, entries, days, seed, json.loads(keys_file.read_text()))


def _postgres_exists(name: str) -> bool:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        row = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return row.fetchone() is not None


def _seed(url: str, users: int, entries: int, days: int, seed: int) -> None:
    env = base_env(url)
    kuledger(env, "init")
    started = time.perf_counter()
    # PostgreSQL: one COPY load (minutes for 10M entries; the per-batch path
    # wrote a few thousand entries a second). Same rows, same posting code.
    copy = ["--copy"] if url.startswith("postgresql") else []
    kuledger(
        env,
        "seed",
        *copy,
        "--users",
        str(users),
        "--entries",
        str(entries),
        "--days",
        str(days),
        "--seed",
        str(seed),
        "--end",
        str(END_AT),
        "--resume",  # an interrupted seed (Ctrl-C, a killed run) goes on
        "--quiet",
    )
    print(
        f"  seeded {entries:,} entries in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )


def _create_keys(url: str, users: int, seed: int, count: int) -> dict[str, Any]:
    """API keys (General) for `count` sampled users and the first three. In
    this process: a `kuledger keys create` per key was a minute per database."""
    sample = random.Random(seed).sample(range(users), min(count, users))
    chosen = sorted({i for i in (0, 1, 2, *sample) if i < users})
    container = Container(
        Settings.from_env({}, database_url=url, secret_key=SECRET_KEY)
    )
    keys = {}
    try:
        for index in chosen:
            uid = f"seed-{seed}-{index:06d}"
            created = key_service.create_key(
                container.uow, container.box, container.clock, uid=uid
            )
            keys[uid] = {
                "key": created.key,
                "secret": created.secret,
                "passphrase": created.passphrase,
                "uid": uid,
                "keyVersion": created.key_version,
            }
    finally:
        container.close()
    return keys


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(
    command: list[str],
    env: dict[str, str],
    port: int,
    ready_path: str = "/api/v1/timestamp",
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                stderr = process.stderr.read() if process.stderr else b""
                raise RuntimeError(f"server exited: {stderr.decode()[-2000:]}")
            try:
                httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def kuledger_server(env: dict[str, str], port: int, workers: int = 1) -> list[str]:
    del env
    return [
        sys.executable,
        "-m",
        "kuledger",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def baseline_server(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.baseline_app:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def peak_rss_mb(pid: int) -> float:
    """Peak resident set (VmHWM) of a process and its children, in MB."""
    total = 0
    for proc in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return round(total / 1024, 1)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    kids = [int(p) for p in text.split()]
    return kids + [g for k in kids for g in _children(k)]


WRK_DONE = """
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout, summary.errors.status))
end
"""


def wrk(
    base_url: str,
    requests: Requests,
    *,
    connections: int,
    seconds: int,
    threads: int = 1,
) -> dict[str, float]:
    """Replay `requests` (path, headers) round-robin with wrk; return rps, p50, p99."""
    script = _replay_script(base_url, requests) + WRK_DONE
    out = _run_wrk(base_url, script, connections, seconds, threads)
    stats = json.loads(out.strip().splitlines()[-1])
    seconds_run = stats["duration_us"] / 1e6
    return {
        "rps": round(stats["requests"] / seconds_run, 1),
        "p50_ms": round(stats["p50_us"] / 1000, 3),
        "p99_ms": round(stats["p99_us"] / 1000, 3),
        "errors": stats["errors"] + stats["non2xx"],
    }


def wrk_pass(
    base_url: str,
    requests: Requests,
    *,
    connections: int,
    max_seconds: int,
) -> float:
    """Send every request once with wrk (not timed: a warm-up); return seconds."""
    # wrk runs for its whole duration even when its threads stop early, so the
    # one thread exits the process once it has sent as many as there are.
    script = _replay_script(base_url, requests) + (
        "\nresponse = function() if i >= #reqs then os.exit(0) end end\n"
    )
    started = time.perf_counter()
    _run_wrk(base_url, script, connections, max_seconds, threads=1)
    return time.perf_counter() - started


def _replay_script(base_url: str, requests: Requests) -> str:
    # wrk.format adds no Host header at the script's top level (wrk.init sets
    # it later), and a strict HTTP/1.1 server (h11) refuses a request without one.
    host = base_url.split("://", 1)[1].rstrip("/")
    lines = ["local reqs = {}"]
    for path, headers in requests:
        header_lua = ", ".join(
            f'["{k}"]="{v}"' for k, v in {"Host": host, **headers}.items()
        )
        lines.append(f'reqs[#reqs+1] = wrk.format("GET", "{path}", {{{header_lua}}})')
    lines.append("local i = 0")
    lines.append("request = function() i = i + 1; return reqs[(i % #reqs) + 1] end")
    return "\n".join(lines)


def _run_wrk(
    base_url: str, script_text: str, connections: int, seconds: int, threads: int
) -> str:
    script = CACHE / f"wrk-{os.getpid()}.lua"
    script.write_text(script_text)
    try:
        return subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "-s",
                str(script),
                base_url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        script.unlink(missing_ok=True)


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


PROFILES = ROOT / "bench" / "results" / "profiles"
_LINE_NUMBER = re.compile(r":\d+\)$")


@contextmanager
def profiled(pid: int, name: str) -> Iterator[dict[str, Any]]:
    """Sample `pid` (and its children) with py-spy while the block runs, when
    BENCH_PROFILE is set; fill the yielded dict with the top functions by
    self time and write the collapsed stacks to bench/results/profiles/."""
    summary: dict[str, Any] = {}
    spy = shutil.which("py-spy") or shutil.which(
        "py-spy", path=str(Path(sys.executable).parent)
    )
    if not os.environ.get("BENCH_PROFILE") or spy is None:
        yield summary
        return
    PROFILES.mkdir(parents=True, exist_ok=True)
    out = PROFILES / f"{name}.txt"
    options = ["--subprocesses", "--nonblocking", "--rate", "250", "--format", "raw"]
    recorder = subprocess.Popen(
        [spy, "record", "--pid", str(pid), *options, "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield summary
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            recorder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            recorder.kill()
    if out.exists():
        summary.update(top_functions(out))


def top_functions(collapsed: Path, count: int = 12) -> dict[str, Any]:
    """Self and inclusive shares of the busiest functions in py-spy raw output."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit():
            continue
        n = int(samples)
        total += n
        # "apply_plan (kuledger/domain/posting.py:73)": one key per function
        frames = [_LINE_NUMBER.sub(")", f) for f in stack.split(";")[1:]]
        if not frames:
            continue
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):  # only our code: the callers above it are 100%
            if " (kuledger" in frame:
                inclusive[frame] = inclusive.get(frame, 0) + n

    def share(table: dict[str, int]) -> dict[str, float]:
        top = sorted(table.items(), key=lambda kv: -kv[1])[:count]
        return {k: round(100 * v / total, 1) for k, v in top}

    return {
        "samples": total,
        "file": str(collapsed.relative_to(ROOT)),
        "self_pct": share(own) if total else {},
        "inclusive_pct": share(inclusive) if total else {},
    }
