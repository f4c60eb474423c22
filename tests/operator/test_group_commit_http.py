"""Group commit from HTTP: concurrent requests wait for their batch on the
event loop, not in a worker thread, so one batch holds more operations than
there are threads (KULEDGER_THREADS, 8 here): before, a batch coalesced from
HTTP was at most 8. Every request still gets its own answer, after the
commit, on both engines; the KuCoin transfer endpoints share the writer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio.to_thread
import httpx
import orjson
from anyio.from_thread import start_blocking_portal
from starlette.types import ASGIApp

from kuledger.bootstrap import build_app, build_operator_app
from kuledger.services.group_commit import GroupCommitWriter
from kuledger_client.signing import auth_headers
from tests.operator.support import PREFIX, OperatorApi

THREADS = 8
CALLERS = 64  # concurrent requests: 8 times the threads


def _writer(op: OperatorApi, sizes: list[int]) -> GroupCommitWriter:
    # A long wait and a batch of exactly the callers: the batch after the
    # first (which a lone early request may have had to itself) waits until
    # the others queued, however slowly the machine lets them in.
    return GroupCommitWriter(
        op.container.server_uow,
        op.container.clock,
        max_ops=CALLERS,
        max_wait=2.0,
        on_batch=sizes.append,
    )


def _concurrently(app: ASGIApp, requests: list[dict[str, Any]]) -> list[Any]:
    """Send every request at once from one event loop, as many clients on a
    server with THREADS worker threads; their JSON answers, in order."""

    async def run() -> list[Any]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test"
        ) as client:
            answers = await asyncio.gather(*(client.request(**r) for r in requests))
        return [a.json() for a in answers]

    with start_blocking_portal() as portal:
        return portal.call(run)


def _funded_users(op: OperatorApi, prefix: str, count: int) -> list[str]:
    uids = [op.user(f"{prefix}-{i}") for i in range(count)]
    op.ok(
        "POST",
        "/operations:batch",
        json={
            "operations": [
                {
                    "op": "deposit",
                    "uid": uid,
                    "id": f"fund-{uid}",
                    "currency": "USDT",
                    "amount": "1000",
                }
                for uid in uids
            ]
        },
    )
    return uids


def _transfer(uid: str, op_id: str) -> dict[str, Any]:
    return {
        "op": "transfer",
        "uid": uid,
        "id": op_id,
        "currency": "USDT",
        "amount": "1",
        "from": "main",
        "to": "trade",
    }


def test_concurrent_operator_requests_share_batches_larger_than_the_threads(
    op: OperatorApi,
):
    # Half the callers on one hot user, as in the benchmark.
    uids = _funded_users(op, "gch", CALLERS // 2 + 1)
    sizes: list[int] = []
    writer = _writer(op, sizes)
    app = build_operator_app(op.container, None, writer)
    headers = {"Authorization": f"Bearer {op.token('post')}"}
    requests = [
        {
            "method": "POST",
            "url": f"{PREFIX}/operations",
            "headers": headers,
            "json": _transfer(uids[0] if i % 2 else uids[1 + i // 2], f"gch-{i}"),
        }
        for i in range(CALLERS)
    ]
    answers = _concurrently(app, requests)
    assert [a["code"] for a in answers] == ["200000"] * CALLERS, answers
    assert [a["data"]["id"] for a in answers] == [f"gch-{i}" for i in range(CALLERS)]
    assert sum(sizes) == CALLERS == writer.operations
    assert max(sizes) > THREADS, sizes
    # Answered after the commit: every one is durable, the hot user's too.
    assert op.balance(uids[0], "trade") == str(CALLERS // 2)
    assert op.balance(uids[0]) == str(1000 - CALLERS // 2)


def test_refusals_and_batch_requests_keep_their_own_answers_in_a_shared_batch(
    op: OperatorApi,
):
    [uid] = _funded_users(op, "gcr", 1)
    sizes: list[int] = []
    app = build_operator_app(op.container, None, _writer(op, sizes))
    headers = {"Authorization": f"Bearer {op.token('post')}"}
    overdraft = {**_transfer(uid, "gcr-over"), "amount": "5000"}
    requests: list[dict[str, Any]] = [
        {
            "method": "POST",
            "url": f"{PREFIX}/operations",
            "headers": headers,
            "json": _transfer(uid, f"gcr-{i}"),
        }
        for i in range(CALLERS - 2)
    ]
    requests.append(
        {
            "method": "POST",
            "url": f"{PREFIX}/operations",
            "headers": headers,
            "json": overdraft,
        }
    )
    requests.append(
        {
            "method": "POST",
            "url": f"{PREFIX}/operations:batch",
            "headers": headers,
            "json": {"operations": [_transfer(uid, "gcr-b1"), overdraft]},
        }
    )
    answers = _concurrently(app, requests)
    assert [a["code"] for a in answers[:-2]] == ["200000"] * (CALLERS - 2)
    assert answers[-2]["code"] == "200004"  # insufficient balance, alone
    batch = answers[-1]["data"]
    assert [r["code"] for r in batch["results"]] == ["200000", "200004"]
    assert max(sizes) > THREADS, sizes
    assert op.balance(uid, "trade") == str(CALLERS - 1)


def test_concurrent_kucoin_transfers_share_batches_larger_than_the_threads(
    op: OperatorApi,
):
    uids = _funded_users(op, "gck", CALLERS // 4)
    keys = {
        uid: op.ok(
            "POST",
            "/users/{uid}/api-keys",
            json={"permissions": ["General", "Spot"]},
            uid=uid,
        )
        for uid in uids
    }
    sizes: list[int] = []
    app = build_app(op.container, None, _writer(op, sizes))
    path = "/api/v2/accounts/inner-transfer"
    requests = []
    for i in range(CALLERS):
        uid = uids[i % len(uids)]
        body = orjson.dumps(
            {
                "clientOid": f"gck-{i}",
                "currency": "USDT",
                "amount": "1",
                "from": "main",
                "to": "trade",
            }
        ).decode()
        key = keys[uid]
        signed = auth_headers(
            key["key"],
            key["secret"],
            key["passphrase"],
            str(int(time.time() * 1000)),
            "POST",
            path,
            body,
        )
        requests.append(
            {
                "method": "POST",
                "url": path,
                "content": body,
                "headers": {**signed, "Content-Type": "application/json"},
            }
        )
    answers = _concurrently(app, requests)
    assert [a["code"] for a in answers] == ["200000"] * CALLERS, answers[:3]
    assert len({a["data"]["orderId"] for a in answers}) == CALLERS
    assert max(sizes) > THREADS, sizes
    assert op.balance(uids[0], "trade") == str(CALLERS // len(uids))
