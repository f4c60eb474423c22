"""Soak test: fixed-rate mixed load on a multi-worker `kuledger serve` for N
minutes, reporting errors, latency percentiles and worker RSS per minute.

    python -m bench.soak --minutes 10 [--rate 200] [--workers 2]
                         [--database-url postgresql://...]

Open loop: request i is due at start + i/rate whatever happened to earlier
ones, and its latency is measured from that due time, so a stalled server
shows up as latency rather than as a lower offered rate. Talks to 127.0.0.1
only. Exit status 1 if any request failed, or if any worker's RSS grew more
than 10% after the first minute (the warm-up).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.domain.users import Permission
from kuledger.services import keys as key_service
from kuledger.services import ledger
from kuledger.services import users as user_service
from kuledger_client.signing import auth_headers

WARMUP_S = 60.0
RSS_GROWTH_LIMIT = 0.10
RSS_SAMPLE_S = 2.0
USERS = 4
SEED = "1000000"
SECRET_KEY = "soak-secret-key-material"


@dataclass
class User:
    uid: str
    key: str
    secret: str
    passphrase: str


@dataclass
class Minute:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


@dataclass
class Results:
    minutes: dict[int, Minute] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def errors(self) -> int:
        with self.lock:
            return sum(m.errors for m in self.minutes.values())

    def record(self, minute: int, kind: str, latency_ms: float, error: str) -> None:
        with self.lock:
            bucket = self.minutes.setdefault(minute, Minute())
            bucket.latencies_ms.append(latency_ms)
            bucket.kinds[kind] = bucket.kinds.get(kind, 0) + 1
            if error:
                bucket.errors += 1
                if len(self.error_samples) < 10:
                    self.error_samples.append(f"{kind}: {error}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KULEDGER_")}
    env.update(
        {
            "KULEDGER_DATABASE_URL": database_url,
            "KULEDGER_SECRET_KEY": SECRET_KEY,
            "KULEDGER_RATELIMIT": "off",
            "KULEDGER_LOG_LEVEL": "warning",
        }
    )
    return env


def kuledger(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "kuledger", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kuledger {' '.join(args)}: {done.stderr}{done.stdout}")
    return done.stdout


def seed_users(env: dict[str, str], count: int) -> list[User]:
    """Users with a Spot key each and funds in main and trade."""
    container = Container(Settings.from_env(env))
    try:
        users = []
        deposits = []
        for index in range(count):
            uid = f"soak-{index}-{uuid.uuid4().hex[:6]}"
            user_service.create_user(container.uow, container.clock, uid=uid)
            key = key_service.create_key(
                container.uow,
                container.box,
                container.clock,
                uid=uid,
                permissions=Permission.parse_list("General,Spot"),
            )
            users.append(User(uid, key.key, key.secret, key.passphrase))
            for account in ("main", "trade"):
                deposits.append(
                    {
                        "op": "deposit",
                        "uid": uid,
                        "id": f"seed-{account}",
                        "currency": "USDT",
                        "amount": SEED,
                        "account": account,
                    }
                )
        ledger.apply_batch(container.uow, deposits, container.clock)
        return users
    finally:
        container.close()


def worker_pids(parent: int) -> list[int]:
    """The uvicorn worker processes (multiprocessing spawn children) of
    `parent`; the parent itself when it runs single-process."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn" in cmdline:
            pids.append(int(entry.name))
    return sorted(pids) or [parent]


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def start_server(
    env: dict[str, str], port: int, workers: int, log: Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "kuledger", "serve"),
                *("--host", "127.0.0.1", "--port", str(port)),
                *("--workers", str(workers)),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kuledger serve exited:\n{log.read_text()[-2000:]}")
        try:
            url = f"http://127.0.0.1:{port}/api/v1/timestamp"
            if httpx.get(url, timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("kuledger serve did not start in 60 s")
    # With several workers, wait (bounded) until all of them are up.
    deadline = time.monotonic() + 30
    while workers > 1 and time.monotonic() < deadline:
        if len(worker_pids(process.pid)) >= workers:
            break
        time.sleep(0.1)
    return process


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Load:
    """The request mix: half ledger pages, a quarter account lists, a quarter
    inner transfers of 0.01 USDT (either way, so funds never run out)."""

    def __init__(self, base_url: str, users: Sequence[User]) -> None:
        self.base_url = base_url
        self.users = users
        self.local = threading.local()

    def client(self) -> httpx.Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = httpx.Client(timeout=30)
            self.local.client = client
        return client

    def request(self, index: int) -> tuple[str, str]:
        """Send request `index`; return (kind, error or "")."""
        rng = random.Random(index)
        user = self.users[index % len(self.users)]
        roll = rng.random()
        body = ""
        if roll < 0.5:
            kind, method, path = "ledger", "GET", "/api/v1/accounts/ledgers"
            path += "?currency=USDT&pageSize=50"
        elif roll < 0.75:
            kind, method, path = "accounts", "GET", "/api/v1/accounts"
        else:
            kind, method, path = "transfer", "POST", "/api/v2/accounts/inner-transfer"
            source, target = ("main", "trade") if index % 2 else ("trade", "main")
            body = json.dumps(
                {
                    "clientOid": f"soak-{index}-{uuid.uuid4().hex[:8]}",
                    "currency": "USDT",
                    "amount": "0.01",
                    "from": source,
                    "to": target,
                }
            )
        headers = auth_headers(
            user.key,
            user.secret,
            user.passphrase,
            str(int(time.time() * 1000)),
            method,
            path,
            body,
            3,
        )
        headers["Content-Type"] = "application/json"
        try:
            response = self.client().request(
                method,
                self.base_url + path,
                headers=headers,
                content=body.encode() if body else None,
            )
        except httpx.HTTPError as exc:
            return kind, repr(exc)
        if response.status_code != 200:
            return kind, f"HTTP {response.status_code}: {response.text[:200]}"
        try:
            code = response.json().get("code")
        except ValueError:
            return kind, f"not JSON: {response.text[:200]}"
        return kind, "" if code == "200000" else response.text[:200]


def run_load(
    load: Load, rate: float, seconds: float, threads: int, results: Results
) -> int:
    """Issue requests at `rate` per second for `seconds`; return how many."""
    total = max(1, int(rate * seconds))
    start = time.monotonic()

    def one(index: int, due: float) -> None:
        kind, error = load.request(index)
        latency = (time.monotonic() - due) * 1000
        results.record(int((due - start) // 60), kind, latency, error)

    per_minute = max(1, int(rate * 60))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for index in range(total):
            if index and index % per_minute == 0:  # progress, once a minute
                print(
                    f"  minute {index // per_minute}: {index:,} requests sent, "
                    f"{results.errors()} errors so far",
                    file=sys.stderr,
                    flush=True,
                )
            due = start + index / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, index, due)
    return total


def sample_rss(
    pids: list[int], start: float, stop: threading.Event
) -> dict[int, list[tuple[float, int]]]:
    samples: dict[int, list[tuple[float, int]]] = {pid: [] for pid in pids}
    while True:
        now = time.monotonic() - start
        for pid in pids:
            value = rss_kb(pid)
            if value is not None:
                samples[pid].append((now, value))
        if stop.wait(RSS_SAMPLE_S):
            break
    now = time.monotonic() - start
    for pid in pids:
        value = rss_kb(pid)
        if value is not None:
            samples[pid].append((now, value))
    return samples


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def rss_at_minute(samples: list[tuple[float, int]], minute: int) -> int | None:
    """The last RSS sample taken within the minute."""
    inside = [kb for at, kb in samples if minute * 60 <= at < (minute + 1) * 60]
    return inside[-1] if inside else None


def report(
    results: Results,
    samples: dict[int, list[tuple[float, int]]],
    args: argparse.Namespace,
    total: int,
    elapsed: float,
    verify_ok: bool,
) -> bool:
    """Print the report; return whether the soak passed."""
    pids = sorted(samples)
    print(
        f"\n== soak report: {args.minutes} min at {args.rate} req/s, "
        f"{args.workers} worker(s), {args.engine}"
    )
    header = f"{'min':>4} {'reqs':>7} {'errors':>6} {'p50 ms':>8} {'p90 ms':>8} "
    header += f"{'p99 ms':>8} {'max ms':>8}"
    header += "".join(f" {'rss ' + str(pid) + ' MB':>14}" for pid in pids)
    print(header)
    errors = 0
    for minute in sorted(results.minutes):
        bucket = results.minutes[minute]
        errors += bucket.errors
        lat = bucket.latencies_ms
        row = f"{minute:>4} {len(lat):>7} {bucket.errors:>6} "
        row += " ".join(f"{percentile(lat, q):>8.1f}" for q in (0.5, 0.9, 0.99, 1.0))
        for pid in pids:
            kb = rss_at_minute(samples[pid], minute)
            row += f" {kb / 1024:>14.1f}" if kb else f" {'-':>14}"
        print(row)
    done = sum(len(b.latencies_ms) for b in results.minutes.values())
    mix: dict[str, int] = {}
    for bucket in results.minutes.values():
        for kind, count in bucket.kinds.items():
            mix[kind] = mix.get(kind, 0) + count
    print(
        f"requests: {done}/{total} in {elapsed:.1f}s "
        f"({done / elapsed:.1f} req/s); mix {mix}; errors: {errors}"
    )
    for sample in results.error_samples:
        print(f"  error: {sample}")
    passed = errors == 0 and done == total and verify_ok
    print(f"kuledger verify: {'OK' if verify_ok else 'FAILED'}")
    for pid in pids:
        warm = [kb for at, kb in samples[pid] if at >= WARMUP_S]
        if len(warm) < 2:
            print(f"rss {pid}: growth not judged (run shorter than the warm-up)")
            continue
        growth = (warm[-1] - warm[0]) / warm[0]
        verdict = "ok" if growth <= RSS_GROWTH_LIMIT else "TOO MUCH"
        print(
            f"rss {pid}: {warm[0] / 1024:.1f} MB after warm-up -> "
            f"{warm[-1] / 1024:.1f} MB at end ({growth:+.1%}, {verdict})"
        )
        passed = passed and growth <= RSS_GROWTH_LIMIT
    print(f"soak {'PASSED' if passed else 'FAILED'}")
    return passed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s")
    parser.add_argument("--workers", type=int, default=2, help="server workers")
    parser.add_argument("--threads", type=int, default=32, help="client threads")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.workers < 1 or args.threads < 1:
        parser.error("--minutes, --rate, --workers and --threads must be positive")
    with tempfile.TemporaryDirectory(prefix="kuledger-soak-") as tmp:
        workdir = Path(tmp)
        url = args.database_url or f"sqlite:///{workdir / 'soak.db'}"
        args.engine = url.split(":", 1)[0]
        env = server_env(url)
        kuledger(env, "init")
        users = seed_users(env, USERS)
        port = free_port()
        process = start_server(env, port, args.workers, workdir / "server.log")
        try:
            pids = worker_pids(process.pid)
            print(f"kuledger serve pid {process.pid}, workers {pids}, port {port}")
            results = Results()
            stop = threading.Event()
            start = time.monotonic()
            rss: dict[int, list[tuple[float, int]]] = {}
            sampler = threading.Thread(
                target=lambda: rss.update(sample_rss(pids, start, stop))
            )
            sampler.start()
            try:
                total = run_load(
                    Load(f"http://127.0.0.1:{port}", users),
                    args.rate,
                    args.minutes * 60,
                    args.threads,
                    results,
                )
            finally:
                stop.set()
                sampler.join(timeout=30)
            elapsed = time.monotonic() - start
        finally:
            stop_server(process)
        verified = subprocess.run(
            [sys.executable, "-m", "kuledger", "verify"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        passed = report(results, rss, args, total, elapsed, verified.returncode == 0)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
