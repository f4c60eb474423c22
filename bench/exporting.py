"""Export: `kuledger export` of one user's whole history from a local server."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from bench import harness
from bench.harness import CACHE, DAY, END_AT


def dataset(entries: int) -> harness.Dataset:
    """One user's history, about 3,000 entries a day."""
    days = max(2, min(365, entries // 3000))
    return harness.Dataset("sqlite", 1, entries, days, seed=21, key_users=1)


def run(entries: int) -> dict[str, Any]:
    data = dataset(entries).load()
    days = data.days
    uid = data.uid(0)
    key = data.keys[uid]
    port = harness.free_port()
    env = harness.base_env(data.url, KULEDGER_RATELIMIT="off")
    out = CACHE / f"export-{port}.jsonl"
    since = time.strftime("%Y-%m-%d", time.gmtime((END_AT - days * DAY - DAY) / 1000))
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(END_AT / 1000 + 1))
    command = [
        sys.executable,
        "-m",
        "kuledger",
        "export",
        "--base-url",
        f"http://127.0.0.1:{port}",
        "--since",
        since,
        "--until",
        until,
        "--format",
        "jsonl",
        "--out",
        str(out),
    ]
    export_env = {
        **env,
        "KULEDGER_API_KEY": key["key"],
        "KULEDGER_API_SECRET": key["secret"],
        "KULEDGER_API_PASSPHRASE": key["passphrase"],
    }
    with harness.server(harness.kuledger_server(env, port), env, port):
        began = time.perf_counter()
        exporter = subprocess.Popen(
            command,
            env=export_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        peak_mb = 0.0
        while exporter.poll() is None:  # VmHWM is the peak so far: sample to the end
            peak_mb = max(peak_mb, harness.peak_rss_mb(exporter.pid))
            time.sleep(0.1)
        stdout, stderr = exporter.communicate()
        done = subprocess.CompletedProcess(command, exporter.returncode, stdout, stderr)
        seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"export failed: {done.stderr[-2000:]}")
    lines = sum(1 for _ in out.open())
    out.unlink()
    rate = lines / seconds
    return {
        "scenario": f"export ({lines:,} entries over {days} days, rate limits off)",
        "measured": {"entries_per_s": round(rate), "peak_rss_mb": round(peak_mb, 1)},
        "baseline": {"target_entries_per_s": 20_000, "target_rss_mb": 150},
        "ratio": round(rate / 20_000, 3),
        "target": "≥ 20,000 entries/s, RSS ≤ 150 MB",
        "met": rate >= 20_000 and peak_mb <= 150,
    }
