"""The test environment is exactly uv.lock: what CI tests is what was locked."""

import os
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {_normalise(p["name"]): p["version"] for p in lock["package"]}


def _installed_versions() -> dict[str, str]:
    return {
        _normalise(dist.metadata["Name"]): dist.version
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


def test_the_test_tools_are_in_the_environment_at_their_locked_versions() -> None:
    # The dev extra was synced, not only the runtime.
    installed = _installed_versions()
    for tool in ("pytest", "mypy", "ruff", "ccxt", "kucoin-universal-sdk"):
        assert tool in installed, f"{tool} is missing: sync with --extra dev"
    if not os.environ.get("KULEDGER_UNLOCKED_ENV"):
        locked = _locked_versions()
        assert all(installed[t] == locked[t] for t in ("pytest", "mypy", "ruff"))
