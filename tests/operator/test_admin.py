"""Users, API keys, balances now and at a time, and the verify status, through
the operator API; key changes checked on the KuCoin API they govern."""

from __future__ import annotations

import time
from typing import Any

import httpx

from kuledger_client.signing import auth_headers
from tests.operator.support import OperatorApi
from tests.operator.test_operations import deposit, new_uid, withdrawal
from tests.support.inprocess import BASE_URL


def kucoin_get(op: OperatorApi, key: dict[str, Any], path: str) -> httpx.Response:
    headers = auth_headers(
        key["key"],
        key["secret"],
        key["passphrase"],
        str(int(time.time() * 1000)),
        "GET",
        path,
        "",
        key["keyVersion"],
    )
    return op.kucoin.get(BASE_URL + path, headers=headers)


def test_users_are_created_listed_by_page_and_read(op: OperatorApi):
    prefix = new_uid()
    master = op.ok("POST", "/users", json={"uid": f"{prefix}-a", "vipLevel": 3})
    sub = op.ok(
        "POST", "/users", json={"uid": f"{prefix}-b", "parentUid": f"{prefix}-a"}
    )
    assert master["vipLevel"] == 3 and master["parentUid"] is None
    assert sub["parentUid"] == f"{prefix}-a" and sub["hf"] is False
    op.ok("POST", "/users", json={"uid": f"{prefix}-c", "hf": True})
    page = op.ok("GET", "/users", params={"after": f"{prefix}", "limit": 2})
    assert [u["uid"] for u in page["items"]] == [f"{prefix}-a", f"{prefix}-b"]
    rest = op.ok("GET", "/users", params={"after": page["next"], "limit": 500})
    assert rest["items"][0]["uid"] == f"{prefix}-c" and rest["items"][0]["hf"]
    got = op.ok("GET", "/users/{uid}", uid=f"{prefix}-b")
    assert got == sub
    taken = op.call("POST", "/users", json={"uid": f"{prefix}-a"}).json()
    assert taken["code"] == "400100" and "already exists" in taken["msg"]
    missing = op.call("GET", "/users/{uid}", uid=f"{prefix}-z")
    assert missing.status_code == 404 and missing.json()["code"] == "404000"
    refused = f"{prefix}-x"
    bad = op.call("POST", "/users", json={"uid": refused, "vipLevel": 13}).json()
    assert bad["code"] == "400100" and "vipLevel" in bad["msg"]
    orphan = op.call("POST", "/users", json={"uid": refused, "parentUid": "nobody"})
    assert orphan.json()["code"] == "400100"
    missing = op.call("GET", "/users/{uid}", uid=refused)  # neither wrote it
    assert missing.status_code == 404 and missing.json()["code"] == "404000"


def test_a_key_is_issued_once_changed_and_revoked(op: OperatorApi):
    uid = op.user(new_uid())
    key = op.ok(
        "POST",
        "/users/{uid}/api-keys",
        uid=uid,
        json={"permissions": ["General", "Spot"], "keyVersion": 3},
    )
    assert (
        key["secret"]
        and key["passphrase"]
        and key["permissions"]
        == [
            "General",
            "Spot",
        ]
    )
    assert kucoin_get(op, key, "/api/v1/accounts").json()["code"] == "200000"
    listed = op.ok("GET", "/users/{uid}/api-keys", uid=uid)
    assert [k["key"] for k in listed] == [key["key"]]
    assert "secret" not in listed[0] and "passphrase" not in listed[0]

    changed = op.ok(
        "PATCH", "/api-keys/{key}", key=key["key"], json={"permissions": ["Spot"]}
    )
    assert changed["permissions"] == ["Spot"]
    assert kucoin_get(op, key, "/api/v1/accounts").json()["code"] == "400007"

    op.ok(
        "PATCH",
        "/api-keys/{key}",
        key=key["key"],
        json={"permissions": ["General"], "ipWhitelist": ["10.1.0.0/16"]},
    )
    assert kucoin_get(op, key, "/api/v1/accounts").json()["code"] == "400006"
    op.ok("PATCH", "/api-keys/{key}", key=key["key"], json={"ipWhitelist": []})
    assert kucoin_get(op, key, "/api/v1/accounts").json()["code"] == "200000"
    before = op.ok("GET", "/users/{uid}/api-keys", uid=uid)
    for bad in [
        {"permissions": ["Root"]},
        {"permissions": ["Spot"], "ipWhitelist": ["not-an-ip"]},  # half good
    ]:
        refused = op.call("PATCH", "/api-keys/{key}", key=key["key"], json=bad)
        assert refused.json()["code"] == "400100", refused.json()
    assert op.ok("GET", "/users/{uid}/api-keys", uid=uid) == before  # unchanged

    revoked = op.ok("DELETE", "/api-keys/{key}", key=key["key"])
    assert revoked == {"key": key["key"], "revoked": True}
    assert kucoin_get(op, key, "/api/v1/accounts").json()["code"] == "400003"
    again = op.call("DELETE", "/api-keys/{key}", key=key["key"])
    assert again.status_code == 404 and again.json()["code"] == "404000"
    patch = op.call("PATCH", "/api-keys/{key}", key=key["key"], json={})
    assert patch.status_code == 404 and patch.json()["code"] == "404000"
    listed = op.ok("GET", "/users/{uid}/api-keys", uid=uid)
    assert listed[0]["revokedAt"] is not None


def test_bad_key_requests_are_refused(op: OperatorApi):
    uid = op.user(new_uid())
    for body, says in [
        ({"permissions": ["Root"]}, "unknown permission"),
        ({"permissions": []}, "at least one permission"),
        ({"permissions": "General"}, "list of strings"),
        ({"ipWhitelist": ["not-an-ip"]}, "not an IP"),
        ({"keyVersion": 4}, "keyVersion"),
    ]:
        answer = op.call("POST", "/users/{uid}/api-keys", uid=uid, json=body).json()
        assert answer["code"] == "400100" and says in answer["msg"], (body, answer)
    assert op.ok("GET", "/users/{uid}/api-keys", uid=uid) == []
    for method, path in [
        ("POST", "/users/{uid}/api-keys"),
        ("GET", "/users/{uid}/api-keys"),
    ]:
        unknown = op.call(
            method, path, uid=new_uid(), json={} if method == "POST" else None
        )
        assert unknown.status_code == 404 and unknown.json()["code"] == "404000"


def test_balances_now_and_at_a_time(op: OperatorApi):
    uid = op.user(new_uid())
    t0 = 1_700_000_000_000
    op.post(deposit(uid, "t1", "100", at=t0))
    op.post(deposit(uid, "t2", "50", at=t0 + 1000))
    op.post(withdrawal(uid, "t3", "30") | {"at": t0 + 2000})
    op.post(deposit(uid, "t4", "1", currency="BTC", at=t0 + 2000))
    hold = {"op": "hold", "uid": uid, "id": "h1", "currency": "USDT", "amount": "20"}
    hold["account"] = "main"
    op.post(hold)

    now = op.ok("GET", "/users/{uid}/accounts", uid=uid)
    usdt = {a["currency"]: a for a in now["accounts"]}["USDT"]
    assert (usdt["balance"], usdt["available"], usdt["holds"]) == ("120", "100", "20")

    def at(ms: int) -> dict[str, Any]:
        data = op.ok("GET", "/users/{uid}/accounts", uid=uid, params={"at": ms})
        return {a["currency"]: (a["balance"], a["seq"]) for a in data["accounts"]}

    assert at(t0 - 1) == {"BTC": ("0", 0), "USDT": ("0", 0)}
    assert at(t0) == {"BTC": ("0", 0), "USDT": ("100", 1)}
    assert at(t0 + 1500) == {"BTC": ("0", 0), "USDT": ("150", 2)}
    assert at(t0 + 2000) == {"BTC": ("1", 1), "USDT": ("120", 3)}
    one = op.ok("GET", "/users/{uid}/accounts", uid=uid, params={"at": t0})
    assert one["accounts"][0]["available"] is None and one["at"] == t0
    bad = op.call("GET", "/users/{uid}/accounts", uid=uid, params={"at": "soon"})
    assert bad.json()["code"] == "400100"
    unknown = op.call("GET", "/users/{uid}/accounts", uid=new_uid())
    assert unknown.status_code == 404 and unknown.json()["code"] == "404000"


def test_the_verify_status_follows_kuledger_verify(op: OperatorApi):
    uid = op.user(new_uid())
    op.post(deposit(uid, "v1"))
    before = op.ok("GET", "/verify")
    assert before["behind"] >= 1 and before["accounts"] >= 1
    op.cli.run("verify")
    after = op.ok("GET", "/verify")
    assert after["lastCleanAt"] is not None
    assert after["behind"] == 0 and after["checkpointed"] == after["accounts"]
    op.post(deposit(uid, "v2"))
    assert op.ok("GET", "/verify")["behind"] == 1
