"""The baseline for the ledger-query scenario: the simplest honest endpoint in
the same stack — one Starlette route, no middleware, no auth, no limits, a raw
driver query with the same SQL as kuledger's, rows to orjson.

Run by uvicorn: BENCH_DATABASE_URL=sqlite:///x.db uvicorn bench.baseline_app:app
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

URL = os.environ.get("BENCH_DATABASE_URL", "sqlite:///kuledger.db")
_local = threading.local()

WHERE = "uid = {p} AND book = 'spot' AND created_at >= {p} AND created_at <= {p}"
COUNT = "SELECT COUNT(*) FROM entries WHERE " + WHERE
PAGE = (
    "SELECT id, currency, {amount}, {fee}, {balance}, account_type, biz_code, "
    "direction, created_at, context FROM entries WHERE "
    + WHERE
    + " ORDER BY created_at DESC, id DESC LIMIT {p} OFFSET {p}"
)


def _connection() -> Any:
    conn = getattr(_local, "conn", None)
    if conn is None:
        if URL.startswith("sqlite:///"):
            conn = sqlite3.connect(
                URL.removeprefix("sqlite:///"), check_same_thread=False
            )
        else:
            import psycopg

            conn = psycopg.connect(
                URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
            )
        _local.conn = conn
    return conn


def _sql(template: str) -> str:
    if URL.startswith("sqlite:///"):
        return template.format(p="?", amount="amount", fee="fee", balance="balance")
    return template.format(
        p="%s", amount="amount::text", fee="fee::text", balance="balance::text"
    )


COUNT_SQL, PAGE_SQL = _sql(COUNT), _sql(PAGE)


def ledger(request: Request) -> Response:
    q = request.query_params
    uid, start, end = q["uid"], int(q["startAt"]), int(q["endAt"])
    size = int(q.get("pageSize", 50))
    page = int(q.get("currentPage", 1))
    conn = _connection()
    total = conn.execute(COUNT_SQL, (uid, start, end)).fetchone()[0]
    rows = conn.execute(PAGE_SQL, (uid, start, end, size, (page - 1) * size)).fetchall()
    items = [
        {
            "id": str(r[0]),
            "currency": r[1],
            "amount": r[2],
            "fee": r[3],
            "balance": r[4],
            "accountType": r[5].upper(),
            "bizType": r[6],
            "direction": r[7],
            "createdAt": r[8],
            "context": r[9],
        }
        for r in rows
    ]
    body = {
        "code": "200000",
        "data": {
            "currentPage": page,
            "pageSize": size,
            "totalNum": total,
            "totalPage": -(-total // size),
            "items": items,
        },
    }
    return Response(orjson.dumps(body), media_type="application/json")


app = Starlette(routes=[Route("/ledger", ledger)])
