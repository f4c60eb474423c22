"""Operator tokens: no token, a malformed header, an unknown, revoked or
foreign (another database's) token, a token without the endpoint's scope;
the audit log names who did what and never holds a token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.operator.support import OperatorApi, operator_api
from tests.operator.test_operations import deposit, new_uid
from tests.support.inprocess import InProcessCli
from tests.support.server import database_env


def assert_refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}],
    ids=["none", "empty", "not-bearer"],
)
def test_no_token_is_400001_http_400(op: OperatorApi, headers):
    response = op.call("GET", "/verify", token=None, headers=headers)
    assert_refused(response, 400, "400001")
    assert "Bearer" in response.json()["msg"]


@pytest.mark.parametrize("text", ["kuop_guess", "x" * 500, "kuop_" + "A" * 43])
def test_an_unknown_token_is_400003_http_401(op: OperatorApi, text: str):
    assert_refused(op.call("GET", "/verify", token=text), 401, "400003")


def test_a_token_without_the_scope_is_400007_http_403(op: OperatorApi):
    reader, poster = op.token("read"), op.token("post")
    uid = op.user(new_uid())
    refused = op.call("POST", "/operations", token=reader, json=deposit(uid, "s1"))
    assert_refused(refused, 403, "400007")
    assert "post" in refused.json()["msg"]
    assert_refused(op.call("GET", "/verify", token=poster), 403, "400007")
    new_user = {"uid": new_uid()}
    assert_refused(
        op.call("POST", "/users", token=reader, json=new_user), 403, "400007"
    )
    assert op.balance(uid) == "0"  # nothing was written
    assert op.call("POST", "/operations", token=poster, json=deposit(uid, "s1"))
    assert op.balance(uid) == "100"


def test_a_revoked_token_is_refused_at_once(op: OperatorApi):
    made = op.cli.json(
        "operator-token", "create", "--name", "short-lived", "--scope", "read", "--json"
    )
    assert op.call("GET", "/verify", token=made["token"]).status_code == 200
    assert (
        op.cli.run("operator-token", "revoke", "short-lived") == "revoked short-lived\n"
    )
    assert_refused(op.call("GET", "/verify", token=made["token"]), 401, "400003")
    listed = op.cli.json("operator-token", "list", "--json")
    [row] = [t for t in listed if t["name"] == "short-lived"]
    assert row["scopes"] == ["read"] and row["revokedAt"] is not None
    assert "token" not in row


def test_a_revoked_post_token_writes_nothing_more(op: OperatorApi):
    """The write endpoints take a token this worker has seen from its cache;
    the writer checks it again before each batch, so a revoke (here from
    another process's CLI, which the cache cannot hear of) stops its writes
    at once, single and batched alike, and nothing more is written."""
    made = op.cli.json(
        "operator-token", "create", "--name", "poster", "--scope", "post", "--json"
    )
    uid = op.user(new_uid())
    for n in range(2):  # the first is read from the database, the second cached
        answer = op.call(
            "POST", "/operations", token=made["token"], json=deposit(uid, f"r{n}")
        )
        assert answer.json()["code"] == "200000", answer.text
    op.cli.run("operator-token", "revoke", "poster")
    single = op.call(
        "POST", "/operations", token=made["token"], json=deposit(uid, "r2")
    )
    assert_refused(single, 401, "400003")
    batch = {"operations": [deposit(uid, "r3"), deposit(uid, "r4")]}
    refused = op.call("POST", "/operations:batch", token=made["token"], json=batch)
    assert_refused(refused, 401, "400003")
    assert op.balance(uid) == "200"  # the two before the revoke, and no more


def test_a_token_of_another_database_is_400003(op: OperatorApi, tmp_path: Path):
    other = InProcessCli(database_env(f"sqlite:///{tmp_path / 'other.db'}", tmp_path))
    other.run("init")
    foreign = other.json(
        "operator-token", "create", "--name", "elsewhere", "--scope", "read", "--json"
    )
    assert_refused(op.call("GET", "/verify", token=foreign["token"]), 401, "400003")


def test_a_twin_token_of_another_deployment_works_only_there(
    op: OperatorApi, tmp_path: Path
):
    """Two deployments, a token of the same name and scopes on each: each
    token opens its own deployment only, and what it may do there only."""
    made = {"name": "twin-" + new_uid(), "scope": "post,read"}
    args = ("operator-token", "create", "--name", made["name"], "--scope")
    here = op.cli.json(*args, made["scope"], "--json")["token"]
    with operator_api(f"sqlite:///{tmp_path / 'other.db'}", tmp_path) as other:
        there = other.cli.json(*args, made["scope"], "--json")["token"]
        uid = other.user(new_uid())
        posted = other.call("POST", "/operations", token=there, json=deposit(uid, "d1"))
        assert posted.json()["code"] == "200000"
        assert_refused(other.call("GET", "/verify", token=here), 401, "400003")
        wrote = other.call("POST", "/operations", token=here, json=deposit(uid, "d2"))
        assert_refused(wrote, 401, "400003")
        audit = other.audit.getvalue().splitlines()
        assert [json.loads(line)["who"] for line in audit[-2:]] == [None, None]
        assert other.balance(uid) == "100"  # only its own token's deposit
    assert op.call("GET", "/verify", token=here).json()["code"] == "200000"
    assert_refused(op.call("GET", "/verify", token=there), 401, "400003")


def test_token_names_are_unique_and_scopes_checked(op: OperatorApi):
    op.cli.run("operator-token", "create", "--name", "dup", "--scope", "read")
    again = op.cli.run(
        "operator-token", "create", "--name", "dup", "--scope", "read", check=False
    )
    assert again == ""  # refused: nothing printed on stdout
    with pytest.raises(AssertionError, match="unknown scope 'write'"):
        op.cli.run("operator-token", "create", "--name", "w", "--scope", "write")


def test_the_document_needs_no_token(op: OperatorApi):
    response = op.http.get("http://testserver/operator/v1/openapi.json")
    assert response.status_code == 200 and response.json()["openapi"] == "3.1.0"


def test_every_call_is_audited_without_its_token(op: OperatorApi):
    poster = op.token("post")
    uid = op.user(new_uid())
    start = len(op.audit.getvalue())
    batch = {"operations": [deposit(uid, "au1"), deposit(uid, "au2", "-1")]}
    op.call("POST", "/operations:batch", token=poster, json=batch)
    op.call("GET", "/verify", token=poster)
    op.call("GET", "/verify", token=None)
    lines = [json.loads(line) for line in op.audit.getvalue()[start:].splitlines()]
    assert [(x["who"], x["method"], x["code"]) for x in lines] == [
        ("test-post", "POST", "200000"),
        ("test-post", "GET", "400007"),
        (None, "GET", "400001"),
    ]
    assert lines[0]["ops"] == [f"{uid}/au1", f"{uid}/au2"]
    assert lines[0]["codes"] == ["200000", "400100"]
    assert lines[0]["path"] == "/operator/v1/operations:batch"
    assert op.tokens
    for token in op.tokens.values():
        assert token not in op.audit.getvalue()
