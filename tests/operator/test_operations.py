"""POST operations, operations:batch and GET operations/{uid}/{id}: results,
idempotent replays and conflicts, one result per operation, atomic batches,
and bad input that writes nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.operator.support import OperatorApi


def new_uid() -> str:
    return "u" + uuid.uuid4().hex[:12]


def deposit(uid: str, op_id: str, amount: str = "100", **more: Any) -> dict[str, Any]:
    return {
        "op": "deposit",
        "uid": uid,
        "id": op_id,
        "currency": "USDT",
        "amount": amount,
        **more,
    }


def withdrawal(uid: str, op_id: str, amount: str) -> dict[str, Any]:
    return {
        "op": "withdrawal",
        "uid": uid,
        "id": op_id,
        "currency": "USDT",
        "amount": amount,
    }


def test_one_operation_is_applied_and_can_be_read_back(op: OperatorApi):
    uid = op.user(new_uid())
    result = op.post(deposit(uid, "d1", "12.5", at=1_700_000_000_000))
    assert result["uid"] == uid and result["id"] == "d1" and result["op"] == "deposit"
    assert result["replayed"] is False and len(result["entries"]) == 1
    data = op.ok("GET", "/operations/{uid}/{id}", uid=uid, id="d1")
    assert data["status"] == "applied" and data["createdAt"] == 1_700_000_000_000
    [entry] = data["entries"]
    assert entry["id"] == result["entries"][0]
    assert (entry["amount"], entry["balance"], entry["direction"]) == (
        "12.5",
        "12.5",
        "in",
    )
    assert entry["bizType"] == "DEPOSIT" and entry["accountType"] == "main"
    assert op.balance(uid) == "12.5"


def test_an_id_with_a_slash_is_found(op: OperatorApi):
    uid = op.user(new_uid())
    op.post(deposit(uid, "chain/tx/1"))
    data = op.ok("GET", "/operations/{uid}/{id}", uid=uid, id="chain/tx/1")
    assert data["id"] == "chain/tx/1"


def test_an_unknown_operation_is_404000(op: OperatorApi):
    uid = op.user(new_uid())
    response = op.call("GET", "/operations/{uid}/{id}", uid=uid, id="nope")
    assert response.status_code == 404 and response.json()["code"] == "404000"


def test_a_replay_returns_the_stored_result_and_writes_nothing(op: OperatorApi):
    uid = op.user(new_uid())
    first = op.post(deposit(uid, "d1"))
    again = op.post(deposit(uid, "d1"))
    assert again == {**first, "replayed": True}
    assert op.balance(uid) == "100"


def test_a_changed_payload_under_a_used_id_is_a_conflict(op: OperatorApi):
    uid = op.user(new_uid())
    op.post(deposit(uid, "d1"))
    response = op.call("POST", "/operations", json=deposit(uid, "d1", "999"))
    body = response.json()
    assert body["code"] == "400100" and "already used" in body["msg"]
    assert op.balance(uid) == "100"


def test_a_refused_operation_answers_its_code_and_writes_nothing(op: OperatorApi):
    uid = op.user(new_uid())
    response = op.call("POST", "/operations", json=withdrawal(uid, "w1", "5"))
    assert response.json()["code"] == "200004"  # insufficient balance
    response = op.call("GET", "/operations/{uid}/{id}", uid=uid, id="w1")
    assert response.json()["code"] == "404000"


def test_a_batch_answers_one_result_per_operation_in_order(op: OperatorApi):
    uid = op.user(new_uid())
    batch = [
        deposit(uid, "b1", "10"),
        deposit(uid, "b2", "1", currency="NOPE"),
        withdrawal(uid, "b3", "50"),
        withdrawal(uid, "b4", "4"),
        {"op": "teleport", "uid": uid, "id": "b5"},
        "not an object",
        deposit(uid, "b1", "10"),  # a replay of the first
    ]
    data = op.ok("POST", "/operations:batch", json={"operations": batch})
    codes = [(r["index"], r["code"]) for r in data["results"]]
    assert codes == [
        (0, "200000"),
        (1, "400100"),
        (2, "200004"),
        (3, "200000"),
        (4, "400100"),
        (5, "400100"),
        (6, "200000"),
    ]
    assert (data["accepted"], data["rejected"], data["atomic"]) == (3, 4, False)
    assert "NOPE" in data["results"][1]["msg"]
    assert data["results"][6]["result"]["replayed"] is True
    assert op.balance(uid) == "6"


def test_an_atomic_batch_applies_all_or_nothing(op: OperatorApi):
    uid = op.user(new_uid())
    batch = [deposit(uid, "a1", "10"), withdrawal(uid, "a2", "11")]
    response = op.call(
        "POST", "/operations:batch", json={"operations": batch, "atomic": True}
    )
    body = response.json()
    assert body["code"] == "200004" and body["msg"].startswith("operation 1:")
    assert "nothing was applied" in body["msg"]
    assert op.balance(uid) == "0"
    missing = op.call("GET", "/operations/{uid}/{id}", uid=uid, id="a1")
    assert missing.json()["code"] == "404000"
    batch[1] = withdrawal(uid, "a2", "10")
    atomic = {"operations": batch, "atomic": True}
    data = op.ok("POST", "/operations:batch", json=atomic)
    assert [r["code"] for r in data["results"]] == ["200000", "200000"]
    assert op.balance(uid) == "0" and data["atomic"] is True


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "code", "says"),
    [
        ("/operations", b"{not json", None, 200, "400100", "not valid JSON"),
        ("/operations", b'{"op":"deposit"}', {"content-type": "text/plain"}, 415,
         "415000", "application/json"),
        ("/operations", b"[]", None, 200, "400100", "must be a JSON object"),
        ("/operations:batch", b'{"operations": {}}', None, 200, "400100",
         "list of 1 to 1000"),
        ("/operations:batch", b'{"operations": []}', None, 200, "400100",
         "list of 1 to 1000"),
        ("/operations:batch", b'{"operations": [{}], "atomic": "yes"}', None, 200,
         "400100", "atomic must be true or false"),
        ("/operations:batch", b'{"operations": [{}], "extra": 1}', None, 200,
         "400100", "extra"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_error(op, path, body, headers, status, code, says):
    response = op.call(
        "POST",
        path,
        content=body,
        headers=headers or {"content-type": "application/json"},
    )
    assert response.status_code == status
    assert response.json()["code"] == code and says in response.json()["msg"]


def test_bad_input_writes_nothing(op: OperatorApi):
    uid = op.user(new_uid())
    too_many = [deposit(uid, f"m{i}", "1") for i in range(1001)]
    response = op.call("POST", "/operations:batch", json={"operations": too_many})
    assert response.json()["code"] == "400100"
    bad = deposit(uid, "x1", "1.5.5")
    assert op.call("POST", "/operations", json=bad).json()["code"] == "400100"
    precise = deposit(uid, "x2", "1.0000000001")  # beyond USDT's precision
    assert op.call("POST", "/operations", json=precise).json()["code"] == "400100"
    assert op.ok("GET", "/users/{uid}/accounts", uid=uid)["accounts"] == []


@pytest.mark.parametrize(
    ("envelope", "says"),
    [
        ({"extra": 1}, "extra"),
        ({"atomic": "yes"}, "atomic must be true or false"),
        ({"atomic": 1}, "atomic must be true or false"),
    ],
)
def test_a_malformed_batch_writes_none_of_its_good_operations(
    op: OperatorApi, envelope: dict[str, Any], says: str
):
    uid = op.user(new_uid())
    good = [deposit(uid, "g1", "5"), deposit(uid, "g2", "6")]
    body = {"operations": good, **envelope}
    answer = op.call("POST", "/operations:batch", json=body).json()
    assert answer["code"] == "400100" and says in answer["msg"], answer
    for op_id in ("g1", "g2"):
        missing = op.call("GET", "/operations/{uid}/{id}", uid=uid, id=op_id)
        assert missing.json()["code"] == "404000"
    assert op.ok("GET", "/users/{uid}/accounts", uid=uid)["accounts"] == []
    # The same operations, sent well, are new: nothing of them was recorded.
    data = op.ok("POST", "/operations:batch", json={"operations": good})
    assert [r["result"]["replayed"] for r in data["results"]] == [False, False]


def test_an_operation_refused_for_its_input_leaves_no_account_or_record(
    op: OperatorApi,
):
    uid = op.user(new_uid())
    for bad in [
        deposit(uid, "n1", "-5"),
        deposit(uid, "n2", "5", currency="NOPE"),
        deposit(uid, "n3", "5", account="nowhere"),
        {**deposit(uid, "n4", "5"), "surprise": True},
        deposit(new_uid(), "n5", "5"),  # an unknown user
    ]:
        answer = op.call("POST", "/operations", json=bad).json()
        assert answer["code"] == "400100" and answer["msg"], (bad, answer)
        missing = op.call("GET", "/operations/{uid}/{id}", uid=bad["uid"], id=bad["id"])
        assert missing.json()["code"] == "404000"
    assert op.ok("GET", "/users/{uid}/accounts", uid=uid)["accounts"] == []


def test_a_body_over_the_limit_is_413000(op: OperatorApi):
    response = op.call(
        "POST",
        "/operations",
        content=b"{" + b" " * (1024 * 1024) + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413 and response.json()["code"] == "413000"


def test_the_same_operation_from_many_callers_at_once_applies_once(op: OperatorApi):
    uid = op.user(new_uid())
    token = op.token()

    def send(_: int) -> dict[str, Any]:
        with op.new_client() as http:
            response = http.post(
                "http://testserver/operator/v1/operations",
                json=deposit(uid, "race", "7"),
                headers={"Authorization": f"Bearer {token}"},
            )
        body: dict[str, Any] = response.json()
        return body

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(16)))
    assert {a["code"] for a in answers} == {"200000"}
    fresh = [a for a in answers if not a["data"]["replayed"]]
    assert len(fresh) == 1
    assert {tuple(a["data"]["entries"]) for a in answers} == {
        tuple(fresh[0]["data"]["entries"])
    }
    assert op.balance(uid) == "7"


class Recorder:
    """A balance-stream subscriber that keeps what it is offered."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def offer(self, frames: list[str]) -> None:
        self.frames += [json.loads(f) for f in frames]


def test_applied_operations_reach_the_balance_stream(op: OperatorApi):
    uid = op.user(new_uid())
    recorder = Recorder()
    op.hub.add(uid, recorder)  # type: ignore[arg-type]
    try:
        op.post(deposit(uid, "ws1", "3"))
        op.call("POST", "/operations", json=withdrawal(uid, "ws2", "5"))  # refused
    finally:
        op.hub.remove(uid, recorder)  # type: ignore[arg-type]
    [frame] = recorder.frames
    assert frame["data"]["total"] == "3" and frame["data"]["relationEvent"]
