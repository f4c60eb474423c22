"""./scripts/bench --quick --dry-run runs every scenario kind on tiny data.

No benchmark is part of ./scripts/test; this only proves the suite still runs.
The ledger-replica scenario starts a PostgreSQL primary and replica of its
own, and must leave no cluster running.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.postgres
def test_the_benchmark_suite_runs_on_tiny_data():
    if shutil.which("wrk") is None and os.geteuid() != 0:
        pytest.skip("wrk is not installed and apt-get needs root")
    done = subprocess.run(
        [str(ROOT / "scripts" / "bench"), "--quick", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    assert "| scenario | measured | baseline (same run) |" in done.stdout
    report = json.loads((ROOT / "bench" / "results" / "dry-run.json").read_text())
    assert report["mode"] == "dry-run"
    names = " ".join(r["scenario"] for r in report["results"])
    for kind in (
        "ledger query",
        "deep pages",
        "ingestion",
        "export",
        "operator API, single transfers",
        "operator API, operations:batch",
        "ledger replica",
    ):
        assert kind in names
    assert not [r for r in report["results"] if "error" in r]
    (replica,) = [r for r in report["results"] if "ledger replica" in r["scenario"]]
    assert replica["ledger_reads"].get("replica1", 0) > 0
    assert replica["replica_state"] == {"replica1": "up"}
    assert not Path(replica["cluster_root"]).exists()  # stopped and removed
