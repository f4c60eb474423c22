"""One racing caller of the operator API, run as its own OS process by
test_idempotency_races.py: `python -m tests.system.race_client PLAN` reads its
plan (a JSON file), waits for the shared start time, sends each request in
order and prints one JSON line per operation answered:
{"uid", "id", "code", "data" or "msg"}.

It imports only httpx: a caller is a client, not a copy of the server."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import httpx


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as file:
        plan: dict[str, Any] = json.load(file)
    headers = {"Authorization": f"Bearer {plan['token']}"}
    base = plan["url"] + "/operator/v1"
    answers: list[dict[str, Any]] = []
    with httpx.Client(timeout=60, headers=headers) as http:
        http.get(base + "/openapi.json")  # connected before the start
        time.sleep(max(0.0, plan["start_at"] - time.time()))
        for request in plan["requests"]:
            ops = request["operations"]
            if request["batch"]:
                body = http.post(base + "/operations:batch", json={"operations": ops})
                results = body.json()["data"]["results"]
            else:
                results = [http.post(base + "/operations", json=ops[0]).json()]
            for op, result in zip(ops, results, strict=True):
                answers.append(
                    {
                        "uid": op["uid"],
                        "id": op["id"],
                        "amount": op["amount"],
                        "code": result["code"],
                        "data": result.get("data") or result.get("result"),
                        "msg": result.get("msg"),
                    }
                )
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
