"""The operator's funding routes: assign an address, create and advance
deposits, advance withdrawals; each answer checked against the operator
document, each balance against the ledger. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from decimal import Decimal

from kuledger.services import funding
from kuledger.services.funding import Funding, NewWithdrawal
from tests.operator.support import OperatorApi


def _user(op: OperatorApi) -> str:
    uid = "f" + uuid.uuid4().hex[:12]
    assert op.call("POST", "/users", json={"uid": uid}).status_code == 200
    return uid


def _data(response):
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "200000", body
    return body["data"]


def _main(op: OperatorApi, uid: str, currency: str) -> dict:
    accounts = _data(op.call("GET", "/users/{uid}/accounts", uid=uid))["accounts"]
    [main] = [a for a in accounts if (a["type"], a["currency"]) == ("main", currency)]
    return main


def test_the_operator_assigns_an_address_and_settles_a_deposit(op: OperatorApi):
    uid = _user(op)
    body = {"currency": "USDT", "chain": "trx", "address": "TXyz", "memo": "7"}
    assigned = _data(
        op.call("POST", "/users/{uid}/deposit-addresses", json=body, uid=uid)
    )
    assert (assigned["address"], assigned["chain"], assigned["to"]) == (
        "TXyz",
        "trx",
        "main",
    )
    made = _data(
        op.call(
            "POST",
            "/deposits",
            json={"uid": uid, "currency": "USDT", "amount": "12.5", "chain": "trx"},
        )
    )
    assert (made["status"], made["address"], made["operationId"]) == (
        "PROCESSING",
        "TXyz",
        None,
    )
    done = _data(
        op.call(
            "POST",
            "/deposits/{id}:advance",
            json={"status": "SUCCESS", "walletTxId": "0x9"},
            id=made["id"],
        )
    )
    assert (
        done["operationId"] == f"deposit:{made['id']}" and done["walletTxId"] == "0x9"
    )
    assert _main(op, uid, "USDT")["balance"] == "12.5"
    status = _data(
        op.call("GET", "/operations/{uid}/{id}", uid=uid, id=done["operationId"])
    )
    assert [(e["bizType"], e["amount"]) for e in status["entries"]] == [
        ("DEPOSIT", "12.5")
    ]
    again = op.call(
        "POST", "/deposits/{id}:advance", json={"status": "FAILURE"}, id=made["id"]
    )
    assert again.json()["code"] == "400100"
    missing = op.call(
        "POST", "/deposits/{id}:advance", json={"status": "SUCCESS"}, id="nope"
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "404000")


def test_the_operator_settles_or_fails_a_withdrawal(op: OperatorApi):
    uid = _user(op)
    _data(
        op.call(
            "POST",
            "/deposits",
            json={"uid": uid, "currency": "BTC", "amount": "1", "status": "SUCCESS"},
        )
    )
    flow = Funding(op.container.uow, op.container.clock, None)
    first = funding.apply_withdrawal(flow, NewWithdrawal(uid, "BTC", "0.1", "bc1q"))
    second = funding.apply_withdrawal(flow, NewWithdrawal(uid, "BTC", "0.2", "bc1q"))
    assert _main(op, uid, "BTC")["holds"] == "0.301"  # amount + 0.0005 fee each
    failed = _data(
        op.call(
            "POST",
            "/withdrawals/{id}:advance",
            json={"status": "FAILURE", "reason": "bad address"},
            id=first.id,
        )
    )
    assert (failed["failureReason"], failed["operationId"]) == (
        "bad address",
        f"withdrawal-release:{first.id}",
    )
    _data(
        op.call(
            "POST", "/withdrawals/{id}:advance", json={"status": "REVIEW"}, id=second.id
        )
    )
    settled = _data(
        op.call(
            "POST",
            "/withdrawals/{id}:advance",
            json={"status": "SUCCESS", "walletTxId": "tx"},
            id=second.id,
        )
    )
    assert settled["status"] == "SUCCESS"
    main = _main(op, uid, "BTC")
    assert (main["balance"], main["available"], main["holds"]) == (
        "0.7995",
        "0.7995",
        "0",
    )
    status = _data(
        op.call("GET", "/operations/{uid}/{id}", uid=uid, id=settled["operationId"])
    )
    assert [(e["amount"], e["fee"]) for e in status["entries"]] == [
        ("0.2", "0"),
        ("0.0005", "0.0005"),
    ]
    bad = op.call(
        "POST", "/withdrawals/{id}:advance", json={"status": "DONE"}, id=second.id
    )
    assert bad.json()["code"] == "400100"


def test_a_cancel_racing_a_settlement_leaves_exactly_one_of_them(op: OperatorApi):
    """The withdrawal's row is locked while it moves: whichever comes second
    sees the first one's status and is refused, so the hold is spent or
    released once, never both."""
    from concurrent.futures import ThreadPoolExecutor

    from kuledger.domain.errors import InvalidInput

    uid = _user(op)
    _data(
        op.call(
            "POST",
            "/deposits",
            json={"uid": uid, "currency": "USDT", "amount": "100", "status": "SUCCESS"},
        )
    )
    flow = Funding(op.container.uow, op.container.clock, None)
    outcomes = []
    for _ in range(5):
        made = funding.apply_withdrawal(flow, NewWithdrawal(uid, "USDT", "9", "0xa"))

        def cancel(record_id=made.id):
            return funding.cancel_withdrawal(flow, uid, record_id)

        def settle(record_id=made.id):
            return funding.advance_withdrawal(flow, record_id, "SUCCESS")

        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(cancel), pool.submit(settle)]
        results = []
        for future in futures:
            try:
                results.append(future.result().status)
            except InvalidInput:
                results.append("refused")
        assert sorted(results) in (["FAILURE", "refused"], ["SUCCESS", "refused"])
        outcomes.append(results)
    spent = sum(1 for r in outcomes if "SUCCESS" in r)
    main = _main(op, uid, "USDT")
    assert main["holds"] == "0"
    assert Decimal(main["balance"]) == 100 - 10 * spent  # 9 + the fee of 1 each
