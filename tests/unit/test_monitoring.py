"""The monitoring module's bookkeeping of several workers' files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kuledger.http.monitoring import forget_dead_workers


def test_a_dead_workers_websocket_gauge_is_dropped_and_its_counts_kept(
    tmp_path: Path,
):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead, alive = int(gone.stdout), os.getpid()
    names = [
        f"gauge_livesum_{dead}.db",
        f"counter_{dead}.db",
        f"histogram_{dead}.db",
        f"gauge_livesum_{alive}.db",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    forget_dead_workers(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])
