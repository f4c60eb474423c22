"""The test environment is exactly uv.lock: what CI tests is what was locked."""

import os
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {canonicalize_name(p["name"]): p["version"] for p in lock["package"]}


def _installed_versions() -> dict[str, str]:
    return {
        canonicalize_name(dist.metadata["Name"]): dist.version
        for dist in metadata.distributions()
    }


@pytest.mark.skipif(
    bool(os.environ.get("KULEDGER_UNLOCKED_ENV")),
    reason="./scripts/test --latest/--lowest resolves afresh, not from uv.lock",
)
def test_every_installed_distribution_is_the_locked_version() -> None:
    locked = _locked_versions()
    installed = _installed_versions()
    wrong = {
        name: f"installed {version}, locked {locked.get(name, 'nothing')}"
        for name, version in installed.items()
        if locked.get(name) != version
    }
    assert not wrong, f"run ./scripts/test (it syncs .venv from uv.lock): {wrong}"


def test_the_dev_extra_is_installed_not_only_the_runtime() -> None:
    installed = _installed_versions()
    for tool in ("pytest", "mypy", "ruff", "ccxt", "kucoin-universal-sdk"):
        assert tool in installed, f"{tool} is missing: sync with --extra dev"
