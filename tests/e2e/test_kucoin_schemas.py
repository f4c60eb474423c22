"""Every success response of every endpoint against KuCoin's own OpenAPI files.

The endpoints come from kuledger.http.endpoints.ENDPOINTS, so a new endpoint is
covered the moment it is added: it needs a sample request below only if it
takes a required parameter or a body, and it may be skipped only by a line in
NOT_IN_KUCOINS_FILES saying why.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from kuledger.http.endpoints import ENDPOINTS
from kuledger.http.routing import Endpoint
from tests.conftest import PostgresDatabases
from tests.support.api import ok_data, send
from tests.support.inprocess import InProcessServer
from tests.support.kucoin_openapi import (
    Operation,
    find_operation,
    location,
    openapi3_problems,
    response_errors,
)
from tests.support.server import ApiUser, Server
from tests.support.shared import ENGINES, engine_app

# Endpoints KuCoin's vendored files do not describe, and why kuledger has them.
NOT_IN_KUCOINS_FILES: dict[tuple[str, str], str] = {
    ("GET", "/api/ua/v1/account/mode"): (
        "unified-account mode: ccxt calls it before its first private call "
        "(kucoin-clients.md), but the universal SDK release vendored here has "
        "no unified-account (ua) file"
    ),
}

# Validation errors accepted on purpose: (location, JSON Schema keyword) -> why.
_NULL_EXAMPLE = "KuCoin's file types it a string, but its own example answers null"
ACCEPTED_DIFFERENCES: dict[tuple[str, str], dict[tuple[str, str], str]] = {
    ("GET", "/api/v1/user/api-key"): {
        ("data.uid", "type"): (
            "KuCoin's uids are integers; a kuledger uid that is not all digits "
            "(like this test's) is sent as a string (docs/api.md)"
        ),
    },
    ("POST", "/api/v3/sub/user/margin/enable"): {("data", "type"): _NULL_EXAMPLE},
    ("POST", "/api/v3/sub/user/futures/enable"): {("data", "type"): _NULL_EXAMPLE},
    ("POST", "/api/v1/transfer-in"): {("data", "type"): _NULL_EXAMPLE},
    ("GET", "/api/v2/sub/user"): {("data.items[].hostedStatus", "type"): _NULL_EXAMPLE},
    ("GET", "/api/v1/accounts"): {
        ("data[].type", "enum"): (
            "KuCoin's file lists only main and trade, but KuCoin answers "
            "margin, trade_hf, isolated, option too (kucoin-api-spec.md 3.1, 3.3)"
        ),
    },
}

# Metadata (pool, weight, permission, doc link) that differs from KuCoin's file.
METADATA_BUGS: dict[tuple[str, str], str] = {}


def _key(endpoint: Endpoint) -> tuple[str, str]:
    return (endpoint.method, endpoint.path)


def _id(endpoint: Endpoint) -> str:
    return f"{endpoint.method} {endpoint.path}"


# --- the data every endpoint answers about ---


@dataclass(frozen=True)
class Subject:
    user: ApiUser
    account_id: str
    server: Server
    sub_uid: str = ""  # the user's sub-account, with balances and a key
    sub_name: str = ""
    sub_key: str = ""
    new_sub_key: Callable[[], str] = str  # a fresh key of the sub-account

    def new_withdrawal(self) -> str:
        """A fresh (cancellable) withdrawal's id."""
        body = json.dumps(
            {
                "currency": "USDT",
                "amount": "1",
                "toAddress": "0xschemas",
                "withdrawType": "ADDRESS",
            }
        )
        response = self.server.signed(self.user, "POST", "/api/v3/withdrawals", body)
        return str(ok_data(response)["withdrawalId"])


@pytest.fixture(scope="module", params=ENGINES)
def module_api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[InProcessServer]:
    """The shared app with the rate limiter off: one subject calls every
    endpoint several times in a window, more than its pools allow (rate
    limits have tests of their own)."""
    off = {"KULEDGER_RATELIMIT": "off"}
    with engine_app(request.param, tmp_path_factory, postgres_databases, off) as s:
        yield s


@pytest.fixture(scope="module")
def subject(module_api: Server) -> Subject:
    """A user with entries in every book, and a key with every permission the
    endpoints ask for."""
    uid = f"schemas-{uuid.uuid4().hex[:8]}"
    user = module_api.add_user(
        uid, permissions="General,Spot,Margin,Futures,FlexTransfers,Withdrawal"
    )

    def op(kind: str, n: int, **fields: Any) -> dict[str, Any]:
        return {"op": kind, "uid": uid, "id": f"s{n}", **fields}

    usdt = {"currency": "USDT"}
    trade = {"symbol": "BTC-USDT", "side": "buy", "price": "20000", "size": "0.001"}
    module_api.cli.post(
        [
            op("deposit", 1, amount="1000", **usdt, context={"txId": "0x1"}),
            op("transfer", 2, amount="100", **{"from": "main", "to": "trade"}, **usdt),
            op("trade", 3, account="trade", order_id="o3", trade_id="t3", **trade),
            op("deposit", 4, account="trade_hf", amount="50", **usdt),
            op("trade", 5, account="trade_hf", order_id="o5", trade_id="t5", **trade),
            op("deposit", 6, account="margin_v2", amount="20", **usdt),
            op(
                "transfer", 7, amount="30", **{"from": "main", "to": "contract"}, **usdt
            ),
            op(
                "adjust",
                8,
                account="contract",
                amount="2",
                direction="in",
                biz_type="REALISED_PNL",
                **usdt,
            ),
            op("deposit", 21, account="margin", amount="15", **usdt),
            op("deposit", 22, account="isolated", amount="0.5", currency="BTC"),
            op("deposit", 23, account="isolated", amount="25", **usdt),
            # a transfer out of contract, for GET /api/v1/transfer-list
            op(
                "transfer", 24, amount="1", **{"from": "contract", "to": "main"}, **usdt
            ),
        ]
    )
    accounts = ok_data(module_api.signed(user, "GET", "/api/v1/accounts"))
    main = next(a for a in accounts if a["type"] == "main")
    sub_name = f"sub{uuid.uuid4().hex[:8]}x1"
    created = ok_data(
        module_api.signed(user, "POST", "/api/v2/sub/user/created", _sub_body(sub_name))
    )
    sub_uid = str(created["uid"])
    for n, to in ((9, "main"), (10, "trade"), (11, "contract")):
        move = {"from": "main", "to": to, "sub_uid": sub_uid, "direction": "to_sub"}
        module_api.cli.post([op("sub_transfer", n, amount="5", **usdt, **move)])

    def new_sub_key() -> str:
        body = json.dumps(
            {"subName": sub_name, "remark": "schemas", "passphrase": "pass12345"}
        )
        made = module_api.signed(user, "POST", "/api/v1/sub/api-key", body)
        return str(ok_data(made)["apiKey"])

    # A deposit address (BTC) and a deposit for the funding endpoints.
    address = json.dumps({"currency": "BTC"})
    ok_data(module_api.signed(user, "POST", "/api/v3/deposit-address/create", address))
    module_api.cli.run(
        "funding", "deposit", "--uid", uid, "--currency", "BTC", "--amount", "0.1"
    )
    subject = Subject(
        user, main["id"], module_api, sub_uid, sub_name, new_sub_key(), new_sub_key
    )
    subject.new_withdrawal()  # the withdrawal history has an item
    return subject


def _sub_body(name: str) -> str:
    return json.dumps(
        {"subName": name, "password": "pass1234", "access": "Spot", "remarks": "r"}
    )


def _transfer_body(**fields: str) -> Callable[[Subject], str]:
    def body(subject: Subject) -> str:
        named = {k: getattr(subject, v) for k, v in fields.items() if v == "sub_uid"}
        return json.dumps({"clientOid": uuid.uuid4().hex, **fields, **named})

    return body


def _sub_key_body(**fields: str) -> Callable[[Subject], str]:
    def body(s: Subject) -> str:
        return json.dumps({"subName": s.sub_name, "passphrase": "pass12345", **fields})

    return body


# Requests per endpoint: a query string, or a function of the subject making a
# fresh JSON body (GET, DELETE: a query string).
# An endpoint not listed is called once with no parameters.
SAMPLES: dict[tuple[str, str], list[str | Callable[[Subject], str]]] = {
    ("GET", "/api/v1/accounts/ledgers"): ["", "currency=BTC", "currency=NOPE"],
    ("GET", "/api/v1/trade-fees"): ["symbols=BTC-USDT,ETH-USDT", "symbols=KCS-USDT"],
    ("GET", "/api/v3/margin/accounts"): ["", "queryType=ALL&quoteCurrency=BTC"],
    ("GET", "/api/v3/isolated/accounts"): ["", "symbol=ETH-USDT", "queryType=ALL"],
    ("GET", "/api/v1/account-overview"): ["currency=USDT", ""],
    ("GET", "/api/v1/isolated/accounts"): ["", "balanceCurrency=USDT"],
    ("GET", "/api/v1/accounts"): ["", "type=main", "currency=USDT"],
    ("GET", "/api/v1/accounts/transferable"): [
        "currency=USDT&type=MAIN",
        "currency=BTC&type=TRADE",
    ],
    ("GET", "/api/v1/hf/accounts/ledgers"): ["", "currency=BTC"],
    ("GET", "/api/v3/hf/margin/account/ledgers"): ["", "currency=USDT"],
    ("GET", "/api/v1/transaction-history"): ["", "currency=USDT"],
    ("POST", "/api/v3/accounts/universal-transfer"): [
        _transfer_body(
            currency="USDT",
            amount="1",
            fromAccountType="MAIN",
            toAccountType="TRADE",
            type="INTERNAL",
        )
    ],
    ("POST", "/api/v2/accounts/inner-transfer"): [
        _transfer_body(currency="USDT", amount="1", **{"from": "main", "to": "trade"})
    ],
    # KuCoin's futures transfers send amount as a JSON number
    ("POST", "/api/v1/transfer-in"): [
        lambda s: json.dumps(
            {"currency": "USDT", "amount": 0.01, "payAccountType": "MAIN"}
        )
    ],
    ("POST", "/api/v3/transfer-out"): [
        lambda s: json.dumps(
            {"currency": "USDT", "amount": 0.01, "recAccountType": "MAIN"}
        ),
        lambda s: json.dumps(
            {"currency": "USDT", "amount": 1, "recAccountType": "TRADE"}
        ),
    ],
    ("GET", "/api/v1/transfer-list"): [
        "",
        "currency=USDT&type=MAIN&currentPage=1&pageSize=10",
    ],
    ("POST", "/api/v2/accounts/sub-transfer"): [
        _transfer_body(
            currency="USDT", amount="1", direction="OUT", subUserId="sub_uid"
        ),
        _transfer_body(
            currency="USDT",
            amount="1",
            direction="IN",
            subUserId="sub_uid",
            accountType="TRADE",
            subAccountType="TRADE",
        ),
    ],
    ("POST", "/api/v2/sub/user/created"): [
        lambda s: _sub_body(f"sub{uuid.uuid4().hex[:8]}y2")
    ],
    ("POST", "/api/v3/sub/user/margin/enable"): [
        lambda s: json.dumps({"uid": s.sub_uid})
    ],
    ("POST", "/api/v3/sub/user/futures/enable"): [
        lambda s: json.dumps({"uid": s.sub_uid})
    ],
    ("GET", "/api/v1/sub-accounts/{subUserId}"): [
        "",
        "includeBaseAmount=true&baseCurrency=USDT",
    ],
    ("GET", "/api/v1/account-overview-all"): ["", "currency=USDT"],
    ("POST", "/api/v1/sub/api-key"): [
        _sub_key_body(remark="made", permission="General,Spot", ipWhitelist="10.0.0.1")
    ],
    ("POST", "/api/v1/sub/api-key/update"): [
        lambda s: _sub_key_body(apiKey=s.sub_key, permission="General,Futures")(s)
    ],
    ("GET", "/api/v1/sub/api-key"): [lambda s: f"subName={s.sub_name}"],
    ("DELETE", "/api/v1/sub/api-key"): [
        lambda s: f"subName={s.sub_name}&apiKey={s.new_sub_key()}&passphrase=pass12345"
    ],
}


def _address_body(currency: str) -> Callable[[Subject], str]:
    """A new chain each time: asking twice for one address is 260000."""

    def body(_subject: Subject) -> str:
        return json.dumps({"currency": currency, "chain": f"c{uuid.uuid4().hex[:8]}"})

    return body


def _withdrawal_body(**fields: str) -> Callable[[Subject], str]:
    return lambda _subject: json.dumps({"currency": "USDT", "amount": "1", **fields})


SAMPLES.update(
    {
        ("POST", "/api/v3/deposit-address/create"): [_address_body("USDT")],
        ("POST", "/api/v1/deposit-addresses"): [_address_body("ETH")],
        ("GET", "/api/v3/deposit-addresses"): ["currency=BTC"],
        ("GET", "/api/v2/deposit-addresses"): ["currency=BTC"],
        ("GET", "/api/v1/deposit-addresses"): ["currency=BTC"],
        ("GET", "/api/v1/deposits"): ["", "currency=BTC&status=PROCESSING"],
        ("GET", "/api/v1/hist-deposits"): ["currency=BTC"],
        ("GET", "/api/v1/withdrawals/quotas"): ["currency=USDT", "currency=XRP"],
        ("POST", "/api/v3/withdrawals"): [
            _withdrawal_body(toAddress="0xa", withdrawType="ADDRESS")
        ],
        ("POST", "/api/v1/withdrawals"): [_withdrawal_body(address="0xa")],
        ("GET", "/api/v1/withdrawals"): ["", "currency=USDT&status=PROCESSING"],
        ("GET", "/api/v1/hist-withdrawals"): ["currency=USDT"],
    }
)
PATH_VALUES = {"currency": "BTC", "symbol": "BTC-USDT"}  # plus accountId


def _path(endpoint: Endpoint, subject: Subject) -> str:
    values = {
        **PATH_VALUES,
        "accountId": subject.account_id,
        "subUserId": subject.sub_uid,
    }

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "withdrawalId":
            return subject.new_withdrawal()
        assert name in values, f"add a sample value for {{{name}}} to PATH_VALUES"
        return values[name]

    return re.sub(r"\{([^{}]+)\}", fill, endpoint.path)


def responses(server: Server, subject: Subject, endpoint: Endpoint) -> list[Any]:
    """The parsed bodies of the endpoint's sample requests, all successes."""
    path = _path(endpoint, subject)
    bodies = []
    for sample in SAMPLES.get(_key(endpoint), [""]):
        if callable(sample) and endpoint.method in ("GET", "DELETE"):
            target, body = f"{path}?{sample(subject)}", ""
        elif callable(sample):
            target, body = path, sample(subject)
        else:
            target, body = path + (f"?{sample}" if sample else ""), ""
        if endpoint.signed:
            response = server.signed(subject.user, endpoint.method, target, body)
        else:
            response = send(server, endpoint.method, target)
        ok_data(response)
        bodies.append(response.json())
    return bodies


def _has_items(data: Any) -> bool:
    """False for an empty list or page: its item schema would go untested."""
    if isinstance(data, list):
        return bool(data)
    if isinstance(data, dict):
        for name in ("items", "dataList"):
            if name in data:
                return bool(data[name])
    return True


def _report(errors: list[Any]) -> str:
    return "\n".join(
        f"  {location(e)}: {e.message} [{e.validator}]" for e in errors[:20]
    )


def _kucoin_operation(endpoint: Endpoint) -> Operation:
    if _key(endpoint) in NOT_IN_KUCOINS_FILES:
        pytest.skip(NOT_IN_KUCOINS_FILES[_key(endpoint)])
    operation = find_operation(endpoint.method, endpoint.path, endpoint.kucoin_doc)
    assert operation is not None, (
        f"{_id(endpoint)} is not in KuCoin's OpenAPI files (tests/kucoin_openapi): "
        "list it in NOT_IN_KUCOINS_FILES with the reason"
    )
    return operation


# --- the tests ---


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_id)
def test_success_responses_match_kucoins_schema(module_api, subject, endpoint):
    operation = _kucoin_operation(endpoint)
    accepted = ACCEPTED_DIFFERENCES.get(_key(endpoint), {})
    bodies = responses(module_api, subject, endpoint)
    assert any(_has_items(body["data"]) for body in bodies), (
        "every sample answered an empty list: give the subject data for it"
    )
    for body in bodies:
        errors = [
            e
            for e in response_errors(operation, body)
            if (location(e), str(e.validator)) not in accepted
        ]
        assert not errors, f"{operation.file}:\n{_report(errors)}"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_id)
def test_every_field_kucoin_documents_is_present(module_api, subject, endpoint):
    """Stricter than KuCoin's `required`: clients read every documented field."""
    operation = _kucoin_operation(endpoint)
    for body in responses(module_api, subject, endpoint):
        missing = [
            e
            for e in response_errors(operation, body, strict=True)
            if e.validator == "required"
        ]
        assert not missing, f"{operation.file}:\n{_report(missing)}"


def _metadata_case(endpoint: Endpoint) -> Any:
    reason = METADATA_BUGS.get(_key(endpoint))
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(endpoint, id=_id(endpoint), marks=marks)


@pytest.mark.parametrize("endpoint", [_metadata_case(e) for e in ENDPOINTS])
def test_pool_weight_permission_and_doc_link_match_kucoins(endpoint):
    operation = _kucoin_operation(endpoint)
    permission = endpoint.permission.value if endpoint.permission else None
    assert (endpoint.pool, endpoint.weight, permission, endpoint.kucoin_doc) == (
        operation.pool,
        operation.weight,
        operation.permission,
        operation.doc_url,
    )


def test_the_validator_catches_wrong_types_and_missing_fields():
    operation = find_operation("GET", "/api/v1/accounts/ledgers")
    assert operation is not None
    item = {
        "id": "1",
        "currency": "USDT",
        "amount": "1",
        "fee": "0",
        "balance": "1",
        "accountType": "MAIN",
        "bizType": "DEPOSIT",
        "direction": "in",
        "createdAt": 1,
        "context": "",
    }
    page = {"currentPage": 1, "pageSize": 50, "totalNum": 1, "totalPage": 1}
    good = {"code": "200000", "data": {**page, "items": [item]}}
    assert response_errors(operation, good, strict=True) == []
    as_string = {**good, "data": {**page, "items": [{**item, "createdAt": "1"}]}}
    [error] = response_errors(operation, as_string)
    assert (location(error), error.validator) == ("data.items[].createdAt", "type")
    no_total = {**good, "data": {"currentPage": 1, "items": []}}
    assert {e.validator for e in response_errors(operation, no_total)} == {"required"}
    no_context = {k: v for k, v in item.items() if k != "context"}
    lean = {**good, "data": {**page, "items": [no_context]}}
    assert response_errors(operation, lean) == []  # KuCoin requires no item field
    [error] = response_errors(operation, lean, strict=True)
    assert "'context' is a required property" in error.message


def test_every_skip_names_a_served_endpoint_kucoin_does_not_describe():
    served = {_key(e) for e in ENDPOINTS}
    for method, path in NOT_IN_KUCOINS_FILES:
        assert (method, path) in served, f"stale entry: {method} {path}"
        assert find_operation(method, path) is None, f"{method} {path} is described"


# --- kuledger's own /openapi.json ---


@pytest.fixture(scope="module")
def own_document(module_api: Server) -> dict[str, Any]:
    response = send(module_api, "GET", "/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


def test_openapi_json_is_a_valid_openapi_3_document(own_document):
    assert openapi3_problems(own_document) == []


def test_the_structural_check_accepts_kucoins_rest_files():
    from tests.support.kucoin_openapi import documents

    for name, document in documents().items():
        if name != "openapi-spot-private.json":  # WebSocket channels, not REST
            assert openapi3_problems(document) == [], name


def test_openapi_json_lists_exactly_the_served_endpoints(own_document):
    listed = {
        (method.upper(), path)
        for path, item in own_document["paths"].items()
        for method in item
    }
    assert listed == {_key(e) for e in ENDPOINTS}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_id)
def test_openapi_json_describes_each_endpoint(own_document, endpoint):
    operation = own_document["paths"][endpoint.path][endpoint.method.lower()]
    declared = [(p["name"], p["in"]) for p in operation.get("parameters", [])]
    assert declared == [(p["name"], p["in"]) for p in endpoint.params]
    assert operation["x-api-rate-limit-pool"] == endpoint.pool
    assert operation["x-api-rate-limit-weight"] == endpoint.weight
    permission = endpoint.permission.value if endpoint.permission else "Public"
    assert operation["x-api-permission"] == permission
    assert operation.get("externalDocs", {}).get("url", "") == endpoint.kucoin_doc
    assert ("security" in operation) == endpoint.signed
    assert "200" in operation["responses"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_id)
def test_responses_match_kuledgers_own_schema(
    module_api, subject, own_document, endpoint
):
    spec = own_document["paths"][endpoint.path][endpoint.method.lower()]
    operation = Operation(
        "openapi.json", endpoint.method, endpoint.path, spec, own_document
    )
    for body in responses(module_api, subject, endpoint):
        errors = response_errors(operation, body)
        assert not errors, _report(errors)
