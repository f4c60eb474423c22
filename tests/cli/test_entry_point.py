"""The `kuledger` process itself, not CliRunner: the console script and
`python -m kuledger` start, exit with the CLI's codes, and keep results on
stdout and errors on stderr. (Every other CLI test runs in process.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kuledger import __version__
from tests.conftest import TEST_SECRET_KEY
from tests.support.server import KULEDGER

CONSOLE_SCRIPT = Path(sys.executable).parent / "kuledger"


def kuledger(
    *args: str, url: str, stdin: str | None = None, program: list[str] = KULEDGER
) -> subprocess.CompletedProcess[str]:
    env = {"KULEDGER_DATABASE_URL": url, "KULEDGER_SECRET_KEY": TEST_SECRET_KEY}
    return subprocess.run(
        [*program, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        timeout=120,
    )


def test_the_console_script_and_the_module_print_the_same_version(tmp_path):
    url = f"sqlite:///{tmp_path / 'unused.db'}"
    by_module = kuledger("--version", url=url)
    by_script = kuledger("--version", url=url, program=[str(CONSOLE_SCRIPT)])
    for done in (by_module, by_script):
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"kuledger, version {__version__}\n"
        assert done.stderr == ""


def test_a_database_never_initialised_is_exit_1_and_one_line_on_stderr(tmp_path):
    done = kuledger("accounts", "--uid", "u1", url=f"sqlite:///{tmp_path / 'new.db'}")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: ")
    assert "kuledger init" in done.stderr


def test_an_unknown_option_is_clicks_usage_error_exit_2(tmp_path):
    done = kuledger("accounts", "--nope", url=f"sqlite:///{tmp_path / 'x.db'}")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("Usage: ")
    assert "--nope" in done.stderr.splitlines()[-1]


def test_post_writes_results_to_stdout_and_exits_1_when_a_line_fails(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert kuledger("init", url=url).returncode == 0
    assert kuledger("users", "create", "--uid", "u1", url=url).returncode == 0
    deposit = {"op": "deposit", "uid": "u1", "currency": "USDT", "amount": "5"}
    lines = [
        {**deposit, "id": "d1"},
        {**deposit, "op": "withdrawal", "id": "w1", "amount": "9"},
    ]
    done = kuledger(
        "post", url=url, stdin="".join(json.dumps(op) + "\n" for op in lines)
    )
    assert done.returncode == 1, done.stderr
    ok, failed = (json.loads(line) for line in done.stdout.splitlines())
    assert (ok["line"], ok["ok"]) == (1, True)
    assert (failed["line"], failed["ok"]) == (2, False)
    assert "insufficient balance" in failed["error"]
    accounts = kuledger("accounts", "--uid", "u1", "--json", url=url)
    assert [a["balance"] for a in json.loads(accounts.stdout)] == ["5"]
