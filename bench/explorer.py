"""The web explorer's pages on a seeded ledger: each page's server time (its
Server-Timing header) beside the operator API's own account list, the
baseline, timed in the same run on the same server.

Two databases: the ledger scenario's (many users, about 100 entries each)
and the deep-pages one (one user with every entry in one account type,
where a chart has to sample). Pages are requested in turn, REPEATS times
each after one warm-up; medians and worst cases are reported."""

from __future__ import annotations

import re
import sqlite3
import statistics
import time
from typing import Any
from urllib.parse import quote

import httpx

from bench import harness

REPEATS = 15
TARGET_MS = 200.0


def _pick(path: str) -> dict[str, Any]:
    """The busiest account, one of its users' operations, and a biz type."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        account, uid, seq = db.execute(
            "SELECT id, uid, seq FROM accounts ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        [op_id] = db.execute(
            "SELECT op_id FROM operations WHERE uid = ? ORDER BY created_at DESC "
            "LIMIT 1",
            (uid,),
        ).fetchone()
        [biz] = db.execute(
            "SELECT biz_code FROM entries WHERE account_id = ? ORDER BY seq LIMIT 1",
            (account,),
        ).fetchone()
    return {"account": account, "uid": uid, "seq": seq, "op_id": op_id, "biz": biz}


def _server_ms(response: httpx.Response) -> float:
    found = re.fullmatch(
        r"app;dur=([0-9.]+)", response.headers.get("server-timing", "")
    )
    if response.status_code != 200 or found is None:
        raise RuntimeError(f"{response.request.url}: {response.status_code}")
    return float(found.group(1))


def _pages(p: dict[str, Any]) -> dict[str, str]:
    a, uid = p["account"], quote(p["uid"], safe="")
    return {
        "users": "/explorer/users",
        "user": f"/explorer/users/{uid}",
        "entries": f"/explorer/accounts/{a}",
        "entries_oldest": f"/explorer/accounts/{a}?before={min(p['seq'], 60)}",
        "entries_filtered": f"/explorer/accounts/{a}?bizType={p['biz']}&direction=out",
        "entries_time_range": f"/explorer/accounts/{a}?from=2000-01-01&to=2100-01-01",
        "chart": f"/explorer/accounts/{a}/balance.json",
        "operation": f"/explorer/operations/{uid}/{quote(p['op_id'], safe='')}",
        "verify": "/explorer/verify",
    }


def measure(data: harness.Seeded) -> dict[str, Any]:
    picked = _pick(data.url.removeprefix("sqlite:///"))
    port, operator_port = harness.free_port(), harness.free_port()
    env = harness.base_env(data.url, KULEDGER_OPERATOR_PORT=str(operator_port))
    name = f"bench-explorer-{time.time_ns()}"
    token = harness.kuledger(
        env, "operator-token", "create", "--name", name, "--scope", "read", "--json"
    )
    text = re.search(r'"token":\s*"([^"]+)"', token)
    assert text is not None
    pages = _pages(picked)
    server: dict[str, list[float]] = {page: [] for page in pages}
    client: dict[str, list[float]] = {page: [] for page in [*pages, "baseline"]}
    baseline = f"/operator/v1/users/{quote(picked['uid'], safe='')}/accounts"
    try:
        with (
            harness.server(harness.kuledger_server(env, port), env, port),
            httpx.Client(base_url=f"http://127.0.0.1:{operator_port}", timeout=60) as c,
        ):
            login = c.post("/explorer/login/operator", data={"token": text.group(1)})
            if login.status_code != 303:
                raise RuntimeError(f"login: {login.status_code}")
            headers = {"Authorization": f"Bearer {text.group(1)}"}
            for round_ in range(REPEATS + 1):  # round 0 warms the caches
                for page, path in pages.items():
                    began = time.perf_counter()
                    ms = _server_ms(c.get(path))
                    if round_:
                        client[page].append((time.perf_counter() - began) * 1000)
                        server[page].append(ms)
                began = time.perf_counter()
                if c.get(baseline, headers=headers).json()["code"] != "200000":
                    raise RuntimeError("the baseline failed")
                if round_:
                    client["baseline"].append((time.perf_counter() - began) * 1000)
    finally:
        harness.kuledger(env, "operator-token", "revoke", name)
    worst = max(max(v) for v in server.values())
    base = statistics.median(client["baseline"])
    slowest = max(pages, key=lambda page: statistics.median(client[page]))
    return {
        "scenario": f"explorer pages ({data.entries:,} entries, {data.users:,} users; "
        f"busiest account {picked['seq']:,} entries)",
        "measured": {
            **{f"{p}_ms": round(statistics.median(v), 2) for p, v in server.items()},
            "worst_server_ms": round(worst, 2),
        },
        "baseline": {"operator_accounts_ms": round(base, 2)},
        "ratio": round(statistics.median(client[slowest]) / base, 3),
        "target": f"every page ≤ {TARGET_MS:.0f} ms server time",
        "met": worst <= TARGET_MS,
    }
