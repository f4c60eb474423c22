"""`kuledger export` from a real server and `kuledger import` into a fresh
database: complete (no duplicate, no gap), resumable to the same bytes, never
a 429 and never a secret on the screen; imports that check every line.

Needs a socket: `kuledger export` is a client in its own process, talking to
the server over HTTP; the commands' exit codes and output are the real ones."""

from __future__ import annotations

import csv
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import DAY_MS, new_uid, now_ms
from tests.support.direct import Direct, direct
from tests.support.inprocess import InProcessCli
from tests.support.server import (
    KULEDGER,
    ApiUser,
    CliCommands,
    LiveServer,
    database_env,
    live_server,
)


def credentials(user: ApiUser) -> dict[str, str]:
    return {
        "KULEDGER_API_KEY": user.key,
        "KULEDGER_API_SECRET": user.secret,
        "KULEDGER_API_PASSPHRASE": user.passphrase,
        "KULEDGER_API_KEY_VERSION": str(user.key_version),
    }


def export_args(server: LiveServer, out: Path, *extra: str) -> list[str]:
    return [
        *KULEDGER,
        "export",
        "--base-url",
        server.base_url,
        "--out",
        str(out),
        *extra,
    ]


def export(
    server: LiveServer, user: ApiUser, out: Path, *extra: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        export_args(server, out, "--quiet", *extra),
        env={**server.cli.env, **credentials(user)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert done.returncode == 0, done.stderr + done.stdout
    return done


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def fresh_cli(tmp_path: Path, name: str) -> InProcessCli:
    cli = InProcessCli(database_env(f"sqlite:///{tmp_path / name}", tmp_path))
    cli.run("init")
    return cli


def no_429(server: LiveServer) -> None:
    statuses = [
        json.loads(line[line.index("{") :]).get("status")
        for line in server.log().splitlines()
        if '"status":' in line and "{" in line
    ]
    assert statuses, "the access log is empty"
    assert 429 not in statuses


def balances(cli: CliCommands, uid: str) -> dict[tuple[str, str], str]:
    return {
        (a["type"], a["currency"]): a["balance"]
        for a in cli.json("accounts", "--uid", uid, "--json")
    }


def history(db: Direct, uid: str, start: int, days: int, per_day: int) -> None:
    """Deposits, transfers and withdrawals, oldest first, from `start`."""
    ops: list[dict[str, Any]] = []
    for day in range(days):
        for n in range(per_day):
            at = start + day * DAY_MS + n * (DAY_MS // per_day)
            ops.append(
                {
                    "op": "deposit",
                    "uid": uid,
                    "id": f"d{day}-{n}",
                    "currency": "USDT" if n % 3 else "BTC",
                    "amount": f"{n + 1}.5",
                    "at": at,
                }
            )
            if n % 4 == 3:
                ops.append(
                    {
                        "op": "transfer",
                        "uid": uid,
                        "id": f"t{day}-{n}",
                        "currency": "USDT",
                        "amount": "1.25",
                        "from": "main",
                        "to": "trade",
                        "at": at,
                    }
                )
    db.post(ops)


@pytest.fixture(scope="module")
def db(module_server: LiveServer) -> Iterator[Direct]:
    with direct(module_server) as handle:
        yield handle


@pytest.fixture
def seeded(db: Direct) -> tuple[ApiUser, int]:
    """A user with 6 days of history ending two days ago; returns (user, start)."""
    user = db.add_user(new_uid("exp"))
    start = now_ms() - 8 * DAY_MS
    history(db, user.uid, start, days=6, per_day=40)
    return user, start


def test_export_then_import_round_trips_in_both_formats(
    module_server, db, seeded, tmp_path
):
    user, start = seeded
    since, until = str(start - 1000), str(now_ms())
    for fmt in ("jsonl", "csv"):
        export(
            module_server,
            user,
            tmp_path / f"out.{fmt}",
            "--since",
            since,
            "--until",
            until,
            "--format",
            fmt,
        )
    items = jsonl(tmp_path / "out.jsonl")
    expected = module_server.cli.json(
        "ledger", "--uid", user.uid, "--since", since, "--until", until, "--json"
    )
    assert [i["id"] for i in items] == [e["id"] for e in reversed(expected)]
    assert items == list(reversed(expected))  # the KuCoin items unchanged
    with (tmp_path / "out.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == [i["id"] for i in items]
    assert {r["ledger"] for r in rows} == {"spot"}
    assert rows[0]["amount"] == items[0]["amount"]
    fresh = fresh_cli(tmp_path, "fresh.db")
    report = json.loads(
        fresh.run("import", "--uid", "copy", str(tmp_path / "out.jsonl"), "--json")
    )
    assert (report["entries"], report["written"], report["openings"]) == (
        len(items),
        len(items),
        0,
    )
    assert balances(fresh, "copy") == balances(module_server.cli, user.uid)
    again = json.loads(
        fresh.run("import", "--uid", "copy", str(tmp_path / "out.csv"), "--json")
    )
    assert (again["written"], again["replayed"]) == (0, len(items))
    assert "OK" in fresh.run("verify")
    copied = fresh.json("ledger", "--uid", "copy", "--json")
    assert len(copied) == len(items)
    assert {e["createdAt"] for e in copied} == {i["createdAt"] for i in items}


def test_the_summary_and_the_progress_never_show_a_secret(
    module_server, seeded, tmp_path
):
    user, start = seeded
    done = subprocess.run(
        export_args(
            module_server,
            tmp_path / "o.jsonl",
            "--key",
            user.key,
            "--secret",
            user.secret,
            "--passphrase",
            user.passphrase,
            "--since",
            str(start),
            "--format",
            "jsonl",
        ),
        env=module_server.cli.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "exported" in done.stdout and "by currency" in done.stdout
    assert "USDT" in done.stdout and "DEPOSIT" in done.stdout
    wrong = subprocess.run(
        export_args(
            module_server,
            tmp_path / "bad.jsonl",
            "--since",
            str(start),
            "--format",
            "jsonl",
        ),
        env={
            **module_server.cli.env,
            **credentials(user),
            "KULEDGER_API_PASSPHRASE": "not-the-passphrase-xyz",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert wrong.returncode == 1
    assert "400004" in wrong.stderr
    for output in (done.stdout, done.stderr, wrong.stdout, wrong.stderr):
        assert user.secret not in output
        assert user.passphrase not in output
        assert "not-the-passphrase-xyz" not in output


def test_credentials_from_a_profile_file(module_server, seeded, tmp_path):
    user, start = seeded
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        f'[local]\nbase_url = "{module_server.base_url}"\nkey = "{user.key}"\n'
        f'secret = "{user.secret}"\npassphrase = "{user.passphrase}"\nkey_version = 3\n'
    )
    done = subprocess.run(
        [
            *KULEDGER,
            "export",
            "--profile",
            "local",
            "--profiles-file",
            str(profiles),
            "--since",
            str(start),
            "--format",
            "csv",
            "--out",
            str(tmp_path / "p.csv"),
            "--quiet",
        ],
        env=module_server.cli.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (
        (tmp_path / "p.csv")
        .read_text()
        .startswith(
            "ledger,id,createdAt,currency,amount,fee,balance,accountType,bizType,"
            "direction,context\n"
        )
    )
    missing = export(
        module_server, user, tmp_path / "x.csv", "--since", "x", check=False
    )
    assert missing.returncode == 2  # a usage error: --format missing


def test_all_ledgers_tag_each_line_with_its_ledger(module_server, db, tmp_path):
    user = db.add_user(new_uid("all"), hf=True)
    at = now_ms() - DAY_MS
    db.post(
        [
            {
                "op": "deposit",
                "uid": user.uid,
                "id": f"d-{account}",
                "currency": "USDT",
                "amount": "5",
                "account": account,
                "at": at,
            }
            for account in ("main", "trade_hf", "margin_v2", "contract")
        ]
    )
    done = export(
        module_server,
        user,
        tmp_path / "all.jsonl",
        "--since",
        str(at - 1000),
        "--ledger",
        "all",
        "--format",
        "jsonl",
    )
    items = jsonl(tmp_path / "all.jsonl")
    found = {i["ledger"] for i in items}
    skipped = {
        name
        for name in ("hf", "margin-hf", "futures")
        if f"skipping the {name} ledger" in done.stderr
    }
    assert found | skipped == {"spot", "hf", "margin-hf", "futures"}
    assert "spot" in found
    by_ledger = {i["ledger"]: i for i in items}
    if "futures" in by_ledger:
        assert by_ledger["futures"]["accountEquity"] == 5
    if "hf" in by_ledger:
        assert by_ledger["hf"]["accountType"] == "TRADE_HF"
    # futures rows have no account trail: the import says so, by line number
    if "futures" in by_ledger:
        line = 1 + [i["ledger"] for i in items].index("futures")
        done = run_import(fresh_cli(tmp_path, "all.db"), "u", tmp_path / "all.jsonl")
        assert done.returncode == 1
        assert f"line {line}: futures ledger items cannot be imported" in done.stderr


def run_import(
    cli: CliCommands, uid: str, path: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KULEDGER, "import", "--uid", uid, str(path), "--quiet"],
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_inconsistent_file_is_rejected_with_its_line_and_nothing_written(
    module_server, seeded, tmp_path
):
    user, start = seeded
    out = tmp_path / "good.jsonl"
    export(module_server, user, out, "--since", str(start), "--format", "jsonl")
    lines = out.read_text().splitlines()
    fresh = fresh_cli(tmp_path, "reject.db")

    def rejected(name: str, changed: list[str]) -> str:
        path = tmp_path / name
        path.write_text("\n".join(changed) + "\n")
        done = run_import(fresh, "victim", path)
        assert done.returncode == 1, done.stdout
        return done.stderr

    # the 100th entry's balance is off by one satoshi-like unit
    item = json.loads(lines[99])
    item["balance"] = str(Decimal(item["balance"]) + Decimal("0.00000001"))
    error = rejected("balance.jsonl", [*lines[:99], json.dumps(item), *lines[100:]])
    assert "line 100:" in error and "running balance" in error
    error = rejected("malformed.jsonl", [*lines[:41], "{not json", *lines[42:]])
    assert "line 42: malformed JSON" in error
    item = json.loads(lines[4])
    item["currency"] = "NOPE"
    error = rejected("currency.jsonl", [*lines[:4], json.dumps(item), *lines[5:]])
    assert "line 5:" in error and "unknown currency 'NOPE'" in error
    first = json.loads(lines[0])
    number, later = next(
        (n, item)
        for n, item in enumerate(map(json.loads, lines[1:]), start=2)
        if (item["accountType"], item["currency"])
        == (first["accountType"], first["currency"])
    )
    later["createdAt"] = first["createdAt"] - 1
    moved = [*lines[: number - 1], json.dumps(later), *lines[number:]]
    error = rejected("order.jsonl", moved)
    assert f"line {number}:" in error and "oldest first" in error
    nobody = subprocess.run(
        [*KULEDGER, "accounts", "--uid", "victim"],
        env=fresh.env,
        capture_output=True,
        text=True,
    )
    assert nobody.returncode == 1 and "unknown user" in nobody.stderr


def test_the_client_waits_for_the_quota_instead_of_getting_429(sqlite_url, tmp_path):
    env = {
        "KULEDGER_RATELIMIT_QUOTAS": "Management=40",
        "KULEDGER_RATELIMIT_WINDOW_MS": "1500",
    }
    with (
        live_server(
            sqlite_url, tmp_path, extra_env=env, setup_cli=InProcessCli
        ) as server,
        direct(server) as db,
    ):
        user = db.add_user("limited")
        start = now_ms() - 30 * DAY_MS
        history(db, user.uid, start, days=28, per_day=3)
        export(
            server,
            user,
            tmp_path / "l.jsonl",
            "--since",
            str(start),
            "--format",
            "jsonl",
        )
        items = jsonl(tmp_path / "l.jsonl")
        no_429(server)
        ledger_requests = server.log().count('"path":"/api/v1/accounts/ledgers"')
    assert len(items) == 28 * 3
    assert ledger_requests > 20  # more than one window's quota (40 / weight 2)


# -- the big one -------------------------------------------------------------

TARGET = "seed-1-000000"
OTHER = "seed-2-000000"
ENTRIES = 100_000
SEED_DAYS = 400


@pytest.fixture(scope="module")
def big(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, ApiUser]]:
    """100,000 entries over 400 days for one user, plus other users' history,
    behind a server with the default rate limits, the user at VIP 0."""
    workdir = tmp_path_factory.mktemp("big")
    with live_server(f"sqlite:///{workdir / 'big.db'}", workdir) as server:
        with direct(server) as db:
            user = db.add_user(TARGET, vip=0)
        for seed, users, entries in (("1", "1", ENTRIES), ("2", "3", 5_000)):
            server.cli.run(
                "seed",
                "--users",
                users,
                "--entries",
                str(entries),
                "--days",
                str(SEED_DAYS),
                "--seed",
                seed,
                "--quiet",
            )
        yield server, user


class Traffic:
    """Another user's deposits, written while an export runs."""

    def __init__(self, server: LiveServer) -> None:
        self._db = Direct(server)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.written = 0

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._db.post(
                [
                    {
                        "op": "deposit",
                        "uid": OTHER,
                        "id": f"live-{self.written}",
                        "currency": "USDT",
                        "amount": "1",
                    }
                ]
            )
            self.written += 1

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._db.close()


def _export_process(
    server: LiveServer, env: dict[str, str], out: Path, *args: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        export_args(server, out, "--quiet", *args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> float:
    """Wait for an export; its peak RSS in MB.

    Read from /proc (VmHWM, the high-water mark of the process since it
    exec'ed), not from wait4's ru_maxrss, which also counts the forking test
    process's memory (the child shares it until exec)."""
    peak_kb = 0
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass  # exited (or exiting) meanwhile
        time.sleep(0.05)
    _, errors = process.communicate()
    assert process.returncode == 0, errors
    assert peak_kb > 0, "the export ended before its memory was read"
    return peak_kb / 1024


def _wait_for_windows(
    checkpoint: Path, windows: int, process: subprocess.Popen[str]
) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert process.poll() is None, "the export ended before it was killed"
        try:
            if json.loads(checkpoint.read_text())["done"] >= windows:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    raise AssertionError("the export made no progress")


@pytest.mark.slow
def test_a_killed_export_resumes_to_the_same_bytes_and_imports_cleanly(big, tmp_path):
    server, user = big
    until = now_ms()
    since = until - 365 * DAY_MS + 3_600_000  # the retention window, an hour spare
    window = ["--since", str(since), "--until", str(until)]
    env = {**server.cli.env, **credentials(user)}

    # 1. an uninterrupted export while another user writes: measured
    clean = tmp_path / "clean.jsonl"
    with Traffic(server) as traffic:
        started = time.monotonic()
        rss_mb = _finish(
            _export_process(server, env, clean, "--format", "jsonl", *window)
        )
        took = time.monotonic() - started
    assert traffic.written > 0
    items = jsonl(clean)
    print(
        f"\nexport: {len(items)} entries in {took:.1f} s ({len(items) / took:,.0f}/s)"
    )
    print(f"export peak RSS: {rss_mb:.0f} MB")
    assert rss_mb < 150  # 61 MB measured: streamed, not held (the file is ~35 MB)

    # 2. exactly the database's entries of that user in the window
    expected = server.cli.json(
        "ledger",
        "--uid",
        user.uid,
        "--since",
        str(since),
        "--until",
        str(until),
        "--json",
    )
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)), "duplicates"
    assert ids == [e["id"] for e in reversed(expected)], "a gap or a stray entry"
    assert len(ids) > 75_000

    # 3. meanwhile import it into a fresh database (its own process and file)
    fresh = fresh_cli(tmp_path, "imported.db")
    importing = subprocess.Popen(
        [*KULEDGER, "import", "--uid", user.uid, str(clean), "--json", "--quiet"],
        env=fresh.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    import_started = time.monotonic()

    # 4. CSV, then an export killed (SIGKILL) halfway and resumed; one at a
    # time: exports sharing a user's quota cannot see each other's spending
    as_csv, resumed = tmp_path / "clean.csv", tmp_path / "resumed.jsonl"
    export(server, user, as_csv, "--format", "csv", *window)
    with as_csv.open(newline="") as handle:
        assert [row["id"] for row in csv.DictReader(handle)] == ids
    killed = _export_process(server, env, resumed, "--format", "jsonl", *window)
    _wait_for_windows(Path(f"{resumed}.checkpoint.json"), 150, killed)
    killed.kill()
    killed.communicate()
    assert not resumed.exists() and Path(f"{resumed}.partial").exists()
    export(server, user, resumed, "--resume", "--format", "jsonl", *window)
    assert resumed.read_bytes() == clean.read_bytes()
    assert not Path(f"{resumed}.checkpoint.json").exists()

    no_429(server)

    # 5. the import: verify is clean, the balances are the source's
    output, errors = importing.communicate(timeout=600)
    assert importing.returncode == 0, errors
    report = json.loads(output)
    took = time.monotonic() - import_started
    print(f"import: {report['entries']} entries in {took:.1f} s (alongside 4.)")
    assert report["entries"] == len(items)
    assert "OK" in fresh.run("verify")
    exported = {(i["accountType"].lower(), i["currency"]) for i in items}
    source = balances(server.cli, user.uid)
    copied = balances(fresh, user.uid)
    assert {k: copied[k] for k in exported} == {k: source[k] for k in exported}
