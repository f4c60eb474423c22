"""Write the blocking SDK client from the asyncio one, with unasync.

    python scripts/unasync.py           rewrite src/kuledger_client/_sync/
    python scripts/unasync.py --check   exit 1, naming each stale file, if
                                        _sync/ is not what this would write

Every module in src/kuledger_client/_async/ but __init__.py becomes the module of
the same name in _sync/: unasync drops `async` and `await` and swaps the names in
RENAMES, a header says the file is generated, and ruff sorts the imports and
formats it as `ruff format --check` expects. Edit _async/, never _sync/.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# This file is named unasync.py too: drop its folder from the path, or
# `import unasync` would import this script instead of the library.
HERE = Path(__file__).resolve().parent
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import unasync  # noqa: E402

ROOT = HERE.parent
SOURCE = ROOT / "src" / "kuledger_client" / "_async"
TARGET = ROOT / "src" / "kuledger_client" / "_sync"

# Beside unasync's own (AsyncIterator -> Iterator, __aenter__ -> __enter__, ...).
RENAMES = {
    "AsyncKucoinClient": "KucoinClient",
    "AsyncOperatorClient": "OperatorClient",
    "AsyncClient": "Client",  # httpx
    "AsyncBaseTransport": "BaseTransport",  # httpx
    "AsyncSleep": "Sleep",  # kuledger_client._core
    "aclose": "close",
    "asyncio": "time",  # asyncio.sleep -> time.sleep
}

HEADER = """\
# Generated from kuledger_client/_async/{name} by scripts/unasync.py: do not edit.
# Change the async source and run `python scripts/unasync.py`.
"""


def sources() -> list[Path]:
    return sorted(p for p in SOURCE.glob("*.py") if p.name != "__init__.py")


def generate(source: Path) -> str:
    """What _sync/<source.name> should hold."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp, "_async", source.name)
        copy.parent.mkdir()
        shutil.copyfile(source, copy)
        rule = unasync.Rule("/_async/", "/_sync/", additional_replacements=RENAMES)
        unasync.unasync_files([str(copy)], [rule])
        text = Path(tmp, "_sync", source.name).read_text(encoding="utf-8")
    text = HEADER.format(name=source.name) + text
    target = TARGET / source.name
    # I: a rename can unsort the imports; UP028: a loop that yields what an
    # `async for` gave becomes `yield from` once the loop is a plain `for`.
    fixes = ["--fix-only", "--unsafe-fixes", "--select", "I,UP028", "--quiet"]
    text = ruff(["check", *fixes], target, text)
    return ruff(["format", "--quiet"], target, text)


def ruff(args: list[str], path: Path, text: str) -> str:
    """`ruff <args>` on `text` as if it were `path` (so pyproject's settings
    apply); the venv's ruff, the one ./scripts/test checks with."""
    executable = Path(sys.executable).parent / "ruff"
    command = [str(executable) if executable.exists() else "ruff", *args]
    done = subprocess.run(
        [*command, "--stdin-filename", str(path), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        sys.exit(f"ruff {args[0]} failed on {path}:\n{done.stderr}")
    return done.stdout


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = 0
    for source in sources():
        target = TARGET / source.name
        expected = generate(source)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == expected:
            continue
        name = target.relative_to(ROOT)
        if not check:
            target.write_text(expected, encoding="utf-8")
            print(f"wrote {name}")
            continue
        stale += 1
        state = "is missing" if current is None else "is stale"
        print(
            f"{name} {state}: it is generated from {source.relative_to(ROOT)}; "
            "run python scripts/unasync.py and commit the result"
        )
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
