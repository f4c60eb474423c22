"""`./scripts/soak` runs, briefly, and reports (the real soak is not part of
./scripts/test: see README.md, "Soak test")."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # about 12 s alone, over 30 s on a loaded machine
def test_soak_smoke() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KULEDGER_")}
    done = subprocess.run(
        [str(ROOT / "scripts" / "soak"), "--minutes", "0.1", "--rate", "50"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "== soak report: 0.1 min at 50.0 req/s" in done.stdout
    assert "errors: 0" in done.stdout
    assert "kuledger verify: OK" in done.stdout
    assert "soak PASSED" in done.stdout
