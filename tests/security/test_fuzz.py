"""Schemathesis against the app `kuledger serve` runs (in process), from its own
/openapi.json: signed requests (positive and negative generation), and
unsigned or garbled ones. Every answer must be KuCoin's envelope, never a 500,
and valid against the response schema the same document declares.

Schemathesis generates the cases (`APIOperation.as_strategy`); the test sends
them itself, so that it signs exactly the path, query and body it sends.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.schemas import APIOperation

from kuledger.http.endpoints import ENDPOINTS
from kuledger.http.endpoints.transfers import INNER_FROM, INNER_TO, UNIVERSAL_TYPES
from kuledger.services.transfers import KINDS
from tests.conftest import PostgresDatabases
from tests.security.checks import envelope_problems
from tests.support.api import new_uid, signed_headers
from tests.support.server import ApiUser, Server
from tests.support.shared import engine_app

AUTH = ("KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE")
AUTH_CODES = {"400001", "400002", "400003", "400004", "400005"}
# Examples per operation and mode (at most: operations without parameters run
# out of distinct cases sooner); over 2,000 requests per engine in all. The
# quick suite (./scripts/test --quick sets KULEDGER_TEST_QUICK) fuzzes a third
# as deep: the whole run goes the full depth, on both engines.
DEPTH = 1 / 3 if os.environ.get("KULEDGER_TEST_QUICK") else 1
SIGNED_EXAMPLES = round(100 * DEPTH)
NEGATIVE_EXAMPLES = round(40 * DEPTH)
GARBLED_EXAMPLES = round(40 * DEPTH)


# The edge under fuzz is the same on both engines: the quick suite fuzzes it
# over SQLite, the full suite over PostgreSQL too.
@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow]),
    ],
)
def fuzz_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[Server]:
    env = {"KULEDGER_RATELIMIT": "off"}  # thousands of requests in seconds
    with engine_app(request.param, tmp_path_factory, postgres_databases, env) as server:
        yield server


@dataclass
class Target:
    server: Server
    user: ApiUser
    document: dict[str, Any]
    schema: Any
    sent: int = 0
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def target(fuzz_server: Server) -> Target:
    server = fuzz_server
    uid = new_uid("fuzz")
    user = server.add_user(uid, permissions="General,Spot,FlexTransfers")
    server.add_user(new_uid("fuzzsub"), parent=uid)
    server.cli.post(
        [
            {"op": "deposit", "uid": uid, "id": f"d{c}", "currency": c, "amount": "9"}
            for c in ("USDT", "BTC")
        ]
    )
    document = server.http.get(server.base_url + "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    return Target(server, user, document, schema)


# --- request bodies (the OpenAPI document declares none) ---

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
AMOUNTS = st.sampled_from(
    ["1", "0.5", "0", "-1", "1e3", "0.000000000000000001", "1" * 40, "NaN", " 1"]
)
CURRENCIES = st.sampled_from(["USDT", "BTC", "XYZ", "usdt", "", "' OR 1=1 --"])


def _field(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(good, good, JSON_VALUES)


def _ids() -> st.SearchStrategy[str]:
    return st.uuids().map(str) | st.text(min_size=1, max_size=140)


BODIES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "/api/v3/accounts/universal-transfer": st.fixed_dictionaries(
        {},
        optional={
            "clientOid": _field(_ids()),
            "currency": _field(CURRENCIES),
            "amount": _field(AMOUNTS),
            "fromAccountType": _field(st.sampled_from(UNIVERSAL_TYPES)),
            "toAccountType": _field(st.sampled_from(UNIVERSAL_TYPES)),
            "type": _field(st.sampled_from(KINDS)),
            "fromUserId": _field(st.text(max_size=70)),
            "toUserId": _field(st.text(max_size=70)),
            "fromAccountTag": _field(st.text(max_size=20)),
            "toAccountTag": _field(st.text(max_size=20)),
        },
    ),
    "/api/v2/accounts/inner-transfer": st.fixed_dictionaries(
        {},
        optional={
            "clientOid": _field(_ids()),
            "currency": _field(CURRENCIES),
            "amount": _field(AMOUNTS),
            "from": _field(st.sampled_from(INNER_FROM)),
            "to": _field(st.sampled_from(INNER_TO)),
        },
    ),
}


def body_strategy(path: str, method: str) -> st.SearchStrategy[str]:
    if method != "POST":
        return st.just("")
    objects = BODIES.get(path, st.dictionaries(st.text(max_size=8), JSON_VALUES))
    return st.one_of(objects.map(json.dumps), st.just(""), JSON_VALUES.map(json.dumps))


# --- turning a schemathesis case into exact bytes ---


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def path_and_query(case: Any) -> str:
    path = case.operation.path
    for name, value in (case.path_parameters or {}).items():
        path = path.replace("{" + name + "}", quote(_wire(value), safe=""))
    pairs: list[tuple[str, str]] = []
    for name, value in (case.query or {}).items():
        values = value if isinstance(value, list) else [value]
        pairs += [(name, _wire(v)) for v in values]
    return f"{path}?{urlencode(pairs)}" if pairs else path


def check(target: Target, op: APIOperation, response: httpx.Response, what: str):
    problems = envelope_problems(response)
    responses = target.document["paths"][op.path][op.method.lower()]["responses"]
    declared = responses.get(str(response.status_code))
    if declared is None:
        problems.append(f"HTTP {response.status_code} is not declared")
    elif not problems:
        schema = declared["content"]["application/json"]["schema"]
        root = {**schema, "components": target.document["components"]}
        errors = list(jsonschema.Draft7Validator(root).iter_errors(response.json()))
        problems += [f"schema: {e.message[:200]}" for e in errors[:3]]
    if problems:
        target.problems.append(
            f"{what} -> {response.status_code} {response.text[:300]}: {problems}"
        )


def run(
    target: Target,
    op: APIOperation,
    strategy: st.SearchStrategy[Any],
    examples: int,
    send: Callable[[Any], None],
) -> None:
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def fuzz(drawn: Any) -> None:
        send(drawn)

    fuzz()


OPERATIONS = [(e.method, e.path) for e in ENDPOINTS]


def operations(target: Target) -> Iterator[APIOperation]:
    for method, path in OPERATIONS:
        yield target.schema[path][method]


def _send_signed(target: Target, op: APIOperation):
    def send(drawn: tuple[Any, str]) -> None:
        case, body = drawn
        url = path_and_query(case)
        headers = signed_headers(target.user, op.method, url, body)
        headers["Content-Type"] = "application/json"
        response = target.server.http.request(
            op.method,
            target.server.base_url + url,
            headers=headers,
            content=body.encode() if body else None,
        )
        target.sent += 1
        check(target, op, response, f"signed {op.method} {url} {body[:200]!r}")
        code = response.json().get("code") if not envelope_problems(response) else ""
        if code in AUTH_CODES:
            target.problems.append(f"a correctly signed {url} was refused: {code}")

    return send


def test_signed_positive_cases(target):
    target.sent, target.problems = 0, []
    for op in operations(target):
        strategy = st.tuples(
            op.as_strategy(GenerationMode.POSITIVE),
            body_strategy(op.path, op.method),
        )
        run(target, op, strategy, SIGNED_EXAMPLES, _send_signed(target, op))
    print(f"signed positive cases sent: {target.sent}")
    assert not target.problems, "\n".join(target.problems[:20])
    assert target.sent >= 1000 * DEPTH


def _has_parameters(op: APIOperation) -> bool:
    return any(True for _ in op.iter_parameters() if _.location != "header")


def test_signed_negative_cases(target):
    target.sent, target.problems = 0, []
    for op in operations(target):
        if not _has_parameters(op):
            continue
        strategy = st.tuples(
            op.as_strategy(GenerationMode.NEGATIVE),
            body_strategy(op.path, op.method),
        )
        run(target, op, strategy, NEGATIVE_EXAMPLES, _send_signed(target, op))
    print(f"signed negative cases sent: {target.sent}")
    assert not target.problems, "\n".join(target.problems[:20])
    assert target.sent >= 300 * DEPTH


GARBLE = st.sampled_from(["none", "schemathesis", "drop", "corrupt", "stale"])


def _send_garbled(target: Target, op: APIOperation):
    signed = any(
        e.signed for e in ENDPOINTS if (e.method, e.path) == (op.method, op.path)
    )

    def send(drawn: tuple[Any, str, str, str, str]) -> None:
        case, body, how, which, junk = drawn
        url = path_and_query(case)
        headers = signed_headers(target.user, op.method, url, body)
        if how == "none":
            headers = {}
        elif how == "schemathesis":  # schemathesis's own (garbled) header values
            headers = {k: str(v) for k, v in (case.headers or {}).items()}
        elif how == "drop":
            headers.pop(which)
        elif how == "corrupt":
            headers[which] = junk if junk != headers[which] else junk + "x"
        else:
            headers = signed_headers(
                target.user, op.method, url, body, timestamp=1_600_000_000_000
            )
        headers["Content-Type"] = "application/json"
        try:
            response = target.server.http.request(
                op.method,
                target.server.base_url + url,
                headers=headers,
                content=body.encode() if body else None,
            )
        except (httpx.LocalProtocolError, UnicodeEncodeError):
            return  # the client refuses such a header: nothing was sent
        target.sent += 1
        check(target, op, response, f"garbled ({how} {which}) {op.method} {url}")
        if signed and not envelope_problems(response):
            code = response.json()["code"]
            if code not in AUTH_CODES:
                target.problems.append(f"{how} {which} {url} was let in: {code}")

    return send


JUNK = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40
)


def test_unsigned_and_garbled_cases(target):
    target.sent, target.problems = 0, []
    for op in operations(target):
        strategy = st.tuples(
            op.as_strategy(GenerationMode.POSITIVE),
            body_strategy(op.path, op.method),
            GARBLE,
            st.sampled_from(AUTH),
            JUNK,
        )
        run(target, op, strategy, GARBLED_EXAMPLES, _send_garbled(target, op))
    print(f"unsigned/garbled cases sent: {target.sent}")
    assert not target.problems, "\n".join(target.problems[:20])
    assert target.sent >= 700 * DEPTH
