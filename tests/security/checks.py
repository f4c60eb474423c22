"""Shared pieces of the security tests: the envelope check every response of a
server must pass, whatever was sent, and the two users the hostile-input
tests share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from kuledger.domain.users import Permission
from kuledger.http.routing import Endpoint
from tests.support.api import new_uid
from tests.support.server import ApiUser, Server

CODE = re.compile(r"[0-9]{6}")


def endpoint_label(e: Endpoint) -> str:
    """A test id for an endpoint: "GET /api/v1/accounts"."""
    return f"{e.method} {e.path}"


def envelope_problems(response: httpx.Response) -> list[str]:
    """What is wrong with a response as a KuCoin envelope (empty: nothing)."""
    problems: list[str] = []
    if response.status_code >= 500 and response.status_code != 503:
        problems.append(f"HTTP {response.status_code}")
    if response.headers.get("content-type") != "application/json":
        problems.append(f"content-type {response.headers.get('content-type')!r}")
    try:
        body: Any = response.json()
    except ValueError:
        return [*problems, f"not JSON: {response.text[:200]!r}"]
    if not isinstance(body, dict):
        return [*problems, f"not an object: {body!r:.200}"]
    code = body.get("code")
    if code == "200000":
        if set(body) != {"code", "data"} or response.status_code != 200:
            problems.append(f"bad success envelope: {body!r:.200}")
    elif (
        set(body) != {"code", "msg"}
        or not isinstance(code, str)
        or not CODE.fullmatch(code)
        or not isinstance(body["msg"], str)
        or not body["msg"]
    ):
        problems.append(f"bad error envelope: {body!r:.200}")
    if code == "500000":
        problems.append("code 500000")
    return problems


@dataclass
class Pair:
    a: ApiUser  # every permission
    b: ApiUser  # another user with entries of their own


def make_pair(s: Server) -> Pair:
    """Two users with USDT and BTC, A with a sub-account."""
    every = ",".join(p.value for p in Permission)
    a = s.add_user(new_uid("hostA"), permissions=every)
    b = s.add_user(new_uid("hostB"), permissions=every)
    s.add_user(new_uid("hostSub"), parent=a.uid)
    s.cli.post(
        [
            {"op": "deposit", "uid": u.uid, "id": f"d{n}", "currency": c, "amount": "7"}
            for u in (a, b)
            for n, c in enumerate(("USDT", "BTC"))
        ]
    )
    return Pair(a, b)


def assert_no_traceback(server: Server) -> None:
    assert "Traceback" not in server.log()
