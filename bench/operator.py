"""The operator API under load, beside the database's own limit.

`single(engine)`: single transfers from 64 concurrent HTTP connections (wrk,
in its own process, cycling bodies built before the run), first spread over
many users, then with every other request on one hot user; transfers/s,
p50, p99. Baseline, same run, same PostgreSQL server: the same transfer as a
PL/pgSQL function (ordered SELECT ... FOR UPDATE, two balance updates, two
entry inserts, autocommit) driven by pgbench with as many connections.

`batch(engine)`: `POST operations:batch` (1,000 transfers a request) from a
few client threads; entries/s beside raw executemany of the same entry rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import psycopg

from bench import harness, ingest
from bench.harness import CACHE, POSTGRES_ADMIN, SECRET_KEY
from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.services import ledger, operator_tokens, users
from kuledger.services.operator_tokens import Scope
from kuledger.storage import migrate

CONNECTIONS = 64
SPREAD_USERS = 1_000
FUNDS = "1000000000"
BATCH_OPS = 1_000
TARGET = "≥ 0.5 of baseline transfers/s, p99 ≤ 25 ms"


def _prepare(url: str, uids: list[str]) -> str:
    """Users funded on main, and a `post` operator token (its text)."""
    container = Container(
        Settings.from_env({}, database_url=url, secret_key=SECRET_KEY)
    )
    try:
        migrate.upgrade(container.engine)
        for uid in uids:
            users.create_user(container.uow, container.clock, uid=uid)
        deposits = [
            {
                "op": "deposit",
                "uid": uid,
                "id": f"fund-{uid}",
                "currency": "USDT",
                "amount": FUNDS,
            }
            for uid in uids
        ]
        for start in range(0, len(deposits), 1000):
            ledger.apply_batch(
                container.uow, deposits[start : start + 1000], container.clock
            )
        _, text = operator_tokens.create_token(
            container.operator_tokens,
            container.clock,
            name="bench",
            scopes=frozenset({Scope.POST}),
        )
        return text
    finally:
        container.close()


@contextmanager
def _operator_server(
    url: str, workers: int = 1, **extra: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port, operator_port = harness.free_port(), harness.free_port()
    env = harness.base_env(url, KULEDGER_OPERATOR_PORT=str(operator_port), **extra)
    with harness.server(harness.kuledger_server(env, port, workers), env, port) as p:
        yield f"http://127.0.0.1:{operator_port}", p


def _wrk_script(base_url: str, token: str, hot: bool, count: int) -> str:
    """Lua that builds `count` distinct transfer requests per wrk thread up
    front (init), then sends them in turn; with `hot`, every other one is
    the hot user's. Ids carry the thread and a run tag: never a replay."""
    host = base_url.split("://", 1)[1]
    run = uuid.uuid4().hex[:8]
    return f"""
local reqs = {{}}
local i = 0
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
init = function(args)
  local tid = tid or 0
  for n = 1, {count} do
    local uid
    if {str(hot).lower()} and n % 2 == 0 then
      uid = "hot"
    else
      uid = string.format("u%d", (n * 7 + tid * 131) % {SPREAD_USERS})
    end
    local body = string.format(
      '{{"op":"transfer","uid":"%s","id":"{run}-%d-%d","currency":"USDT",' ..
      '"amount":"0.01","from":"main","to":"trade"}}', uid, tid, n)
    reqs[n] = wrk.format("POST", "/operator/v1/operations", {{
      ["Host"] = "{host}",
      ["Authorization"] = "Bearer {token}",
      ["Content-Type"] = "application/json"}}, body)
  end
end
request = function()
  i = i + 1
  return reqs[((i - 1) % #reqs) + 1]
end
"""


def _wrk(base_url: str, token: str, hot: bool, seconds: int) -> dict[str, float]:
    # Bodies enough for the run without a repeat (a repeat would be a cheap
    # replay): 20,000 a second per thread is well above what is reached.
    count = max(2_000, 20_000 * seconds // 2)
    script = _wrk_script(base_url, token, hot, count) + harness.WRK_DONE
    out = harness._run_wrk(base_url, script, CONNECTIONS, seconds, threads=2)
    stats = json.loads(out.strip().splitlines()[-1])
    elapsed = stats["duration_us"] / 1e6
    return {
        "requests": stats["requests"],
        "transfers_per_s": round(stats["requests"] / elapsed, 1),
        "p50_ms": round(stats["p50_us"] / 1000, 2),
        "p99_ms": round(stats["p99_us"] / 1000, 2),
        "errors": stats["errors"] + stats["non2xx"],
    }


def _commits(base_url: str) -> tuple[float, float]:
    """(operations, commits) the server's writer has written so far, from the
    operator listener's /metrics (kuledger_write_batch_operations)."""
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    found = {"sum": 0.0, "count": 0.0}
    for line in text.splitlines():
        for part in found:
            if line.startswith(f"kuledger_write_batch_operations_{part} "):
                found[part] += float(line.split()[1])
    return found["sum"], found["count"]


def _check_one(base_url: str, token: str) -> None:
    body = httpx.post(
        f"{base_url}/operator/v1/operations",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "op": "transfer",
            "uid": "hot",
            "id": f"check-{uuid.uuid4().hex}",
            "currency": "USDT",
            "amount": "0.01",
            "from": "main",
            "to": "trade",
        },
        timeout=30,
    ).json()
    if body.get("code") != "200000":
        raise RuntimeError(f"operator API refused the benchmark's transfer: {body}")


def _count_entries(url: str) -> int:
    container = Container(
        Settings.from_env({}, database_url=url, secret_key=SECRET_KEY)
    )
    try:
        with container.engine.connect() as conn:
            return int(
                conn.exec_driver_sql("SELECT count(*) FROM entries").scalar_one()
            )
    finally:
        container.close()


def single(engine: str, seconds: int, workers: int = 1) -> list[dict[str, Any]]:
    baseline = pgbench_baseline(seconds)
    rows = []
    with ingest.fresh_database(engine, "operator") as url:
        token = _prepare(url, ["hot", *(f"u{i}" for i in range(SPREAD_USERS))])
        with _operator_server(url, workers) as (base_url, proc):
            _check_one(base_url, token)
            _wrk(base_url, token, False, max(1, seconds // 5))  # warm up
            for hot in (False, True):
                before = _count_entries(url)
                ops, commits = _commits(base_url)
                name = f"operator-{engine}-{'hot' if hot else 'spread'}"
                with harness.profiled(proc.pid, name) as profile:
                    run = _wrk(base_url, token, hot, seconds)
                ops_after, commits_after = _commits(base_url)
                # (every worker's: kuledger serve shares their metrics)
                run["ops_per_commit"] = round(
                    (ops_after - ops) / max(1.0, commits_after - commits), 1
                )
                # Every answer was a commit (an error envelope is HTTP 200
                # too): the transfers written must match the requests.
                run["applied"] = (_count_entries(url) - before) // 2
                base = baseline["hot" if hot else "spread"]
                ratio = run["transfers_per_s"] / base["transfers_per_s"]
                rows.append(
                    {
                        "scenario": f"operator API, single transfers ({engine}, "
                        f"{CONNECTIONS} connections, {workers} worker"
                        f"{'s' if workers > 1 else ''}, "
                        + ("half on one hot account)" if hot else "spread)"),
                        "measured": run,
                        "baseline": {"plpgsql_pgbench": base["transfers_per_s"]}
                        | {"p99_ms": base["p99_ms"]},
                        "ratio": round(ratio, 3),
                        "target": TARGET,
                        "met": ratio >= 0.5
                        and run["p99_ms"] <= 25
                        and run["errors"] == 0
                        and run["applied"] >= run["requests"],
                        **({"profile": profile} if profile else {}),
                    }
                )
    return rows


# --- the baseline: the transfer as one PL/pgSQL function, driven by pgbench -------

FUNCTION_SQL = """
CREATE TABLE accounts (id bigint PRIMARY KEY, balance numeric NOT NULL,
                       version bigint NOT NULL DEFAULT 0);
CREATE TABLE entries (id bigserial PRIMARY KEY, account_id bigint NOT NULL,
                      amount numeric NOT NULL, balance numeric NOT NULL,
                      version bigint NOT NULL, created_at timestamptz NOT NULL);
CREATE INDEX ON entries (account_id, version);
CREATE FUNCTION transfer(src bigint, dst bigint, amt numeric) RETURNS void AS $$
DECLARE b_src numeric; b_dst numeric; v_src bigint; v_dst bigint;
BEGIN
  PERFORM 1 FROM accounts WHERE id IN (src, dst) ORDER BY id FOR UPDATE;
  UPDATE accounts SET balance = balance - amt, version = version + 1
    WHERE id = src RETURNING balance, version INTO b_src, v_src;
  UPDATE accounts SET balance = balance + amt, version = version + 1
    WHERE id = dst RETURNING balance, version INTO b_dst, v_dst;
  INSERT INTO entries (account_id, amount, balance, version, created_at)
    VALUES (src, -amt, b_src, v_src, now()), (dst, amt, b_dst, v_dst, now());
END $$ LANGUAGE plpgsql;
"""
# A user's main (2u) to trade (2u+1), as the HTTP run; user 0 is the hot one.
PGBENCH_SPREAD = f"""\\set u random(1, {SPREAD_USERS})
SELECT transfer(2 * :u, 2 * :u + 1, 0.01);
"""
PGBENCH_HOT = f"""\\set h random(0, 1)
\\set u :h * random(1, {SPREAD_USERS})
SELECT transfer(2 * :u, 2 * :u + 1, 0.01);
"""


def pgbench_baseline(seconds: int) -> dict[str, dict[str, float]]:
    """transfers/s and p99 of the PL/pgSQL transfer, spread and half hot."""
    name = f"kuledger_pgfn_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(FUNCTION_SQL)
            conn.execute(
                "INSERT INTO accounts (id, balance) "
                f"SELECT g, {FUNDS} FROM generate_series(0, {2 * SPREAD_USERS + 1}) g"
            )
        return {
            "spread": _pgbench(url, PGBENCH_SPREAD, seconds),
            "hot": _pgbench(url, PGBENCH_HOT, seconds),
        }
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pgbench(url: str, script: str, seconds: int) -> dict[str, float]:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"pgbench-{os.getpid()}.sql"
    path.write_text(script)
    logdir = CACHE / f"pgbench-log-{uuid.uuid4().hex[:8]}"
    logdir.mkdir()
    try:
        out = subprocess.run(
            [
                "pgbench",
                "-n",
                "-M",
                "prepared",
                "-c",
                str(CONNECTIONS),
                "-j",
                "2",
                "-T",
                str(seconds),
                "-f",
                str(path),
                "-l",
                "--log-prefix",
                str(logdir / "tx"),
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 120,
        ).stdout
        latencies = sorted(
            int(line.split()[2])
            for log in logdir.iterdir()
            for line in log.read_text().splitlines()
        )
    finally:
        path.unlink(missing_ok=True)
        for log in logdir.iterdir():
            log.unlink()
        logdir.rmdir()
    tps = next(
        float(line.split("=")[1].split()[0])
        for line in out.splitlines()
        if line.startswith("tps")
    )
    return {
        "transfers_per_s": round(tps, 1),
        "p50_ms": round(latencies[len(latencies) // 2] / 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] / 1000, 2),
    }


# --- the batch endpoint -----------------------------------------------------------


def batch(engine: str, operations: int, clients: int = 2) -> dict[str, Any]:
    """operations:batch (BATCH_OPS transfers each) vs raw executemany."""
    per = min(BATCH_OPS, max(1, operations // 4))
    requests = max(1, operations // per)
    with (
        ingest.fresh_database(engine, "operator_batch") as url,
        ingest.fresh_database(engine, "raw") as raw,
    ):
        uids = [f"u{i}" for i in range(200)]
        token = _prepare(url, uids)
        run = uuid.uuid4().hex[:8]
        bodies = [
            orjson.dumps(
                {
                    "operations": [
                        {
                            "op": "transfer",
                            "uid": uids[(r * per + n) % len(uids)],
                            "id": f"{run}-{r}-{n}",
                            "currency": "USDT",
                            "amount": "0.01",
                            "from": "main",
                            "to": "trade",
                        }
                        for n in range(per)
                    ]
                }
            )
            for r in range(requests)
        ]
        with _operator_server(url) as (base_url, proc):
            before = _count_entries(url)
            failures: list[str] = []
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
            }

            def client(index: int) -> None:
                with httpx.Client(base_url=base_url, timeout=120) as http:
                    for body in bodies[index::clients]:
                        data = http.post(
                            "/operator/v1/operations:batch",
                            content=body,
                            headers=headers,
                        ).json()
                        if data.get("code") != "200000" or data["data"]["rejected"]:
                            failures.append(str(data)[:300])

            threads = [
                threading.Thread(target=client, args=(i,)) for i in range(clients)
            ]
            with harness.profiled(proc.pid, f"operator-batch-{engine}") as profile:
                began = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                elapsed = time.perf_counter() - began
        if failures:
            raise RuntimeError(f"{len(failures)} batches refused, e.g. {failures[0]}")
        container = Container(
            Settings.from_env({}, database_url=url, secret_key=SECRET_KEY)
        )
        with container.engine.connect() as conn:
            rows = [
                tuple(r)
                for r in conn.exec_driver_sql(
                    f"SELECT {ingest.COLUMNS} FROM entries ORDER BY id"
                )
            ][before:]
        container.close()
        raw_container = Container(
            Settings.from_env({}, database_url=raw, secret_key=SECRET_KEY)
        )
        migrate.upgrade(raw_container.engine)
        raw_seconds = ingest._raw_insert(raw_container, rows)
        raw_container.close()
    measured = len(rows) / elapsed
    baseline = len(rows) / raw_seconds
    return {
        "scenario": f"operator API, operations:batch ({engine}, {per} transfers a "
        f"request, {clients} clients, {len(rows):,} entries)",
        "measured": {
            "entries_per_s": round(measured),
            "ops_per_s": round(requests * per / elapsed),
        },
        "baseline": {"raw_executemany_entries_per_s": round(baseline)},
        "ratio": round(measured / baseline, 3),
        "target": "≥ 0.5 of raw"
        + (", ≥ 50,000 entries/s" if engine == "sqlite" else ""),
        "met": measured >= 0.5 * baseline
        and (engine != "sqlite" or measured >= 50_000),
        **({"profile": profile} if profile else {}),
    }
