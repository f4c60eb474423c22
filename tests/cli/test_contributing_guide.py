"""CONTRIBUTING.md stays true: every file, folder and script it names exists,
and the names it gives the endpoint registry and fixtures are the code's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kuledger.http import endpoints
from tests.support import inprocess

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "CONTRIBUTING.md"
_PATH = re.compile(r"`((?:\./)?(?:src|tests|scripts|docs)/[\w./-]*)`")


def _paths() -> list[str]:
    return sorted(set(_PATH.findall(GUIDE.read_text(encoding="utf-8"))))


def test_the_guide_exists_and_covers_the_endpoint_checklist():
    text = GUIDE.read_text(encoding="utf-8")
    for needed in (
        "## Add an endpoint",
        "docs/api.md",
        "tests/e2e/test_kucoin_schemas.py",
        "./scripts/test --quick",
        "pytest -n 0",
        "./scripts/lock",
        "scripts/unasync.py",
        "lint-imports",
    ):
        assert needed in text, needed


@pytest.mark.parametrize("path", _paths())
def test_every_path_it_names_exists(path):
    target = ROOT / path.split("::")[0]
    assert target.exists(), f"CONTRIBUTING.md names {path}, which does not exist"


def test_the_names_it_gives_are_the_codes():
    assert endpoints.ENDPOINTS and hasattr(endpoints, "catalogue")
    assert hasattr(inprocess, "InProcessCli")
    for flag in ("--quick", "--latest", "--lowest"):
        assert flag in (ROOT / "scripts" / "test").read_text()
