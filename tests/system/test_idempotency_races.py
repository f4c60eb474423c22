"""Idempotency races through the operator API from many processes: separate
OS processes (tests/system/race_client.py) post the same (uid, id)s, ids of
their own, and ids under which each sends a payload of its own, in their own
orders, singly and in batches, at once, to a real `kuledger serve --workers
2`, on SQLite and PostgreSQL.

Each shared operation is applied exactly once and every caller is answered
the same stored result (entries, time); of the callers of a conflicted id
one wins and every other is refused with the conflict code; the stored
records, balances and `kuledger verify` agree."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import free_port, live_server
from tests.support.shared import ENGINES, fresh_database

PROCESSES = 8
SHARED = 40  # ids every process sends, with the same payload
CONFLICTED = 10  # ids every process sends, each with an amount of its own
PRIVATE = 5  # ids of one process
USERS = ("racer-a", "racer-b")


def _deposit(uid: str, op_id: str, amount: str) -> dict[str, Any]:
    return {"op": "deposit", "uid": uid, "id": op_id, "currency": "USDT",
            "amount": amount}  # fmt: skip


def _plan(process: int) -> list[dict[str, Any]]:
    """This process's requests: every shared and conflicted id, its private
    ones, shuffled; the odd processes send them in batches of 5."""
    ops = [_deposit(USERS[i % 2], f"shared-{i}", f"{i + 1}.25") for i in range(SHARED)]
    ops += [
        _deposit(USERS[i % 2], f"conflict-{i}", f"{process + 1}00")
        for i in range(CONFLICTED)
    ]
    ops += [_deposit(USERS[0], f"own-{process}-{i}", "0.5") for i in range(PRIVATE)]
    random.Random(process).shuffle(ops)
    size = 5 if process % 2 else 1
    return [
        {"batch": size > 1, "operations": ops[i : i + size]}
        for i in range(0, len(ops), size)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_many_processes_racing_on_the_same_ids_apply_each_once(
    request: pytest.FixtureRequest, tmp_path: Path, engine: str
) -> None:
    url = fresh_database(request, engine, tmp_path)
    port = free_port()
    env = {"KULEDGER_OPERATOR_PORT": str(port)}
    with live_server(url, tmp_path, extra_env=env, workers=2) as server:
        token = server.cli.json(
            "operator-token", "create", "--name", "racer", "--scope",
            "post,read,admin", "--json",
        )["token"]  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base + "/operator/v1", headers=headers) as http:
            for uid in USERS:
                assert http.post("/users", json={"uid": uid}).json()["code"] == "200000"
            start_at = time.time() + 3  # every process started and connected
            callers = []
            for number in range(PROCESSES):
                plan = tmp_path / f"plan-{number}.json"
                plan.write_text(
                    json.dumps(
                        {
                            "url": base,
                            "token": token,
                            "start_at": start_at,
                            "requests": _plan(number),
                        }
                    )
                )
                callers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "tests.system.race_client", plan],
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
            outputs = []
            for caller in callers:
                out, _ = caller.communicate(timeout=120)
                assert caller.returncode == 0
                outputs.append(json.loads(out))
            answers: defaultdict[tuple[str, str], list[dict[str, Any]]] = defaultdict(
                list
            )
            for output in outputs:
                for answer in output:
                    answers[(answer["uid"], answer["id"])].append(answer)
            expected = _check_answers(answers)
            for (uid, op_id), winner in expected.items():
                stored = http.get(f"/operations/{uid}/{op_id}").json()["data"]
                ids = [str(e["id"]) for e in stored["entries"]]
                assert ids == winner["data"]["entries"], (uid, op_id)
            for uid in USERS:
                accounts = http.get(f"/users/{uid}/accounts").json()["data"]
                [main] = accounts["accounts"]
                owed = sum(
                    (
                        Decimal(w["amount"])
                        for (u, _), w in expected.items()
                        if u == uid
                    ),
                    Decimal(0),
                )
                assert Decimal(main["balance"]) == owed, uid
        report = json.loads(server.cli.run("verify", "--json"))
        assert report["ok"] is True, report


def _check_answers(
    answers: dict[tuple[str, str], list[dict[str, Any]]],
) -> dict[tuple[str, str], dict[str, Any]]:
    """Check each id's answers; return each applied id's first application."""
    applied = {}
    for (uid, op_id), got in answers.items():
        ok = [a for a in got if a["code"] == "200000"]
        fresh = [a for a in ok if not a["data"]["replayed"]]
        assert len(fresh) == 1, (op_id, got)  # exactly once
        # Every caller answered 200000 sees the one stored result.
        assert {(tuple(a["data"]["entries"]), a["data"]["createdAt"]) for a in ok} == {
            (tuple(fresh[0]["data"]["entries"]), fresh[0]["data"]["createdAt"])
        }
        if op_id.startswith("shared-"):
            assert len(got) == PROCESSES and len(ok) == PROCESSES, got
        elif op_id.startswith("conflict-"):
            assert len(got) == PROCESSES and len(ok) == 1, got
            for refused in (a for a in got if a["code"] != "200000"):
                assert refused["code"] == "400100", refused
                assert "different payload" in refused["msg"], refused
        else:
            assert len(got) == 1
        applied[(uid, op_id)] = fresh[0]
    assert len(applied) == SHARED + CONFLICTED + PROCESSES * PRIVATE
    return applied
