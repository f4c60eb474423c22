"""The operator API's endpoints: the table, each endpoint's scope, request and
response schemas (its OpenAPI document is built from them), and handlers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.datastructures import QueryParams

from kuledger.domain.errors import InvalidInput, LedgerError, UnknownApiKey
from kuledger.domain.fields import Fields
from kuledger.domain.money import to_wire
from kuledger.domain.operations import OPERATIONS
from kuledger.domain.users import MAX_VIP_LEVEL, Permission, User, parse_networks
from kuledger.http.body import body_fields
from kuledger.http.endpoints._json_schema import (
    BOOLEAN,
    INTEGER,
    STRING,
    obj,
    path,
    query,
)
from kuledger.http.envelope import Envelope, fail
from kuledger.http.errors import NotFound, UnsupportedMediaType, describe
from kuledger.http.operator import fees as fee_endpoints
from kuledger.http.params import query_fields
from kuledger.http.pending import Pending
from kuledger.services import keys as key_service
from kuledger.services import operator
from kuledger.services import users as user_service
from kuledger.services.explorer import ExplorerQueries
from kuledger.services.fees import FeeStore
from kuledger.services.ledger import BatchError, OperationResult
from kuledger.services.operator import OperatorQueries, Outcome, Writer
from kuledger.services.operator_tokens import OperatorToken, Scope, TokenStore
from kuledger.services.ports import (
    Clock,
    EventSink,
    LedgerReader,
    SecretBox,
    StoredKey,
    UnitOfWorkFactory,
)

MAX_BATCH = 1000  # operations per POST operations:batch
MAX_PAGE = 500  # users per page
PREFIX = "/operator/v1"

CODE: dict[str, Any] = {"type": "string", "pattern": "^[0-9]{6}$"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


def array(items: dict[str, Any], **limits: int) -> dict[str, Any]:
    return {"type": "array", "items": items, **limits}


@dataclass(frozen=True, slots=True)
class OperatorServices:
    """What the operator endpoints use, injected by the composition root."""

    write: Writer  # the one way operations are applied (see services/operator.py)
    tokens: TokenStore
    queries: OperatorQueries
    reader: LedgerReader
    uow: UnitOfWorkFactory
    box: SecretBox
    clock: Clock
    fees: FeeStore | None = None  # None: fee rates are not kept (404000)
    explorer: ExplorerQueries | None = None  # the web explorer's reads (http/explorer)
    events: EventSink | None = None  # the balance stream, for funding's own commits


@dataclass
class OpCall:
    services: OperatorServices
    token: OperatorToken | None  # None until authorized
    path_params: dict[str, str]
    query_params: QueryParams
    body: bytes
    content_type: str | None
    ops: list[str] = field(default_factory=list)  # "uid/id" of each, for the audit
    codes: list[str] = field(default_factory=list)  # each one's code, in a batch
    # Set when the token came from the cache (http/operator/auth.py): the
    # writer checks it is still active before applying the call's writes.
    check: operator.Check | None = None

    def json(self) -> Any:
        ctype = self.content_type
        if ctype is None or "application/json" not in ctype.lower():
            raise UnsupportedMediaType("Content-Type must be application/json")
        try:
            return orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            raise InvalidInput("body", "the request body is not valid JSON") from None

    def fields(self, allowed: set[str]) -> Fields:
        """The body as Fields: a JSON object with no field but `allowed`."""
        found = body_fields(self.body, self.content_type)
        found.only(allowed, "this request")
        return found

    @property
    def query(self) -> Fields:
        return query_fields(self.query_params)

    def note(self, payloads: Sequence[object]) -> None:
        for p in payloads:
            if isinstance(p, dict):
                self.ops.append(f"{p.get('uid')}/{p.get('id')}")
            else:
                self.ops.append("?")


Handler = Callable[[OpCall], Any]  # `data`, an Envelope, or a Pending write


@dataclass(frozen=True, slots=True)
class OperatorEndpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    scope: Scope
    response: dict[str, Any]
    body: dict[str, Any] | None = None  # JSON Schema of the request body
    params: tuple[dict[str, Any], ...] = ()
    # Served on the raw ASGI scope (http/operator/hot.py) where the writer
    # batches: the handler does no I/O before it queues its write.
    hot: bool = False


def _bool(f: Fields, name: str, default: bool) -> bool:
    value = f.values.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidInput(name, f"{name} must be true or false")
    return value


def _texts(f: Fields, name: str) -> list[str] | None:
    value = f.values.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(name, f"{name} must be a list of strings")
    return value


# --- operations -----------------------------------------------------------------


def _result(result: OperationResult) -> dict[str, Any]:
    return {
        "uid": result.uid,
        "id": result.id,
        "op": result.op,
        "entries": [str(i) for i in result.entry_ids],
        "createdAt": result.created_at,
        "replayed": result.replayed,
    }


def post_operation(call: OpCall) -> Pending[dict[str, Any]]:
    payload = call.json()
    call.note([payload])
    future = operator.submit(call.services.write, [payload], False, call.check)
    return Pending(future, _one)


def _one(done: Future[list[Outcome]]) -> dict[str, Any]:
    [outcome] = done.result()
    if isinstance(outcome, LedgerError):
        raise outcome
    return _result(outcome)


def post_batch(call: OpCall) -> Pending[Envelope | dict[str, Any]]:
    f = call.fields({"operations", "atomic"})
    payloads = f.values.get("operations")
    if not isinstance(payloads, list) or not 1 <= len(payloads) <= MAX_BATCH:
        raise InvalidInput(
            "operations", f"operations must be a list of 1 to {MAX_BATCH} operations"
        )
    atomic = _bool(f, "atomic", False)
    call.note(payloads)
    future = operator.submit(call.services.write, payloads, atomic, call.check)
    return Pending(future, lambda done: _batch_results(call, atomic, done))


def _batch_results(
    call: OpCall, atomic: bool, done: Future[list[Outcome]]
) -> Envelope | dict[str, Any]:
    try:
        outcomes = done.result()
    except BatchError as exc:
        described = describe(exc.cause)
        assert described is not None  # every LedgerError is in the table
        status, code, message = described
        return fail(
            code, f"operation {exc.index}: {message}; nothing was applied", status
        )
    results: list[dict[str, Any]] = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, OperationResult):
            results.append(
                {"index": index, "code": "200000", "result": _result(outcome)}
            )
        else:
            _, code, message = describe(outcome) or (200, "400100", str(outcome))
            results.append({"index": index, "code": code, "msg": message})
    call.codes.extend(r["code"] for r in results)
    accepted = call.codes.count("200000")
    return {
        "atomic": atomic,
        "accepted": accepted,
        "rejected": len(results) - accepted,
        "results": results,
    }


def get_operation(call: OpCall) -> dict[str, Any]:
    uid, op_id = call.path_params["uid"], call.path_params["id"]
    call.ops.append(f"{uid}/{op_id}")
    found = operator.operation_status(call.services.queries, uid, op_id)
    if found is None:
        raise NotFound(f"no operation {op_id!r} of user {uid!r}")
    result, entries = found
    return {
        "uid": result.uid,
        "id": result.id,
        "op": result.op,
        "status": "applied",
        "createdAt": result.created_at,
        "entries": [
            {
                "id": str(e.id),
                "accountId": e.account_id,
                "accountType": e.account_type,
                "currency": e.currency,
                "amount": e.amount,
                "fee": e.fee,
                "balance": e.balance,
                "direction": e.direction,
                "bizType": e.biz_code,
                "createdAt": e.created_at,
                "context": e.context,
                "seq": e.seq,
            }
            for e in entries
        ],
    }


# --- users -------------------------------------------------------------------------


def _user(user: User) -> dict[str, Any]:
    return {
        "uid": user.uid,
        "parentUid": user.parent_uid,
        "vipLevel": user.vip_level,
        "hf": user.hf,
        "createdAt": user.created_at,
    }


def create_user(call: OpCall) -> dict[str, Any]:
    f = call.fields({"uid", "parentUid", "vipLevel", "hf"})
    s = call.services
    user = user_service.create_user(
        s.uow,
        s.clock,
        uid=f.text("uid", max_len=user_service.MAX_UID_LENGTH),
        parent_uid=f.text("parentUid", max_len=user_service.MAX_UID_LENGTH),
        vip_level=f.integer("vipLevel", 0, high=MAX_VIP_LEVEL) or 0,
        hf=_bool(f, "hf", False),
    )
    return _user(user)


def list_users(call: OpCall) -> dict[str, Any]:
    q = call.query
    limit = q.integer("limit", 100, low=1, high=MAX_PAGE) or 100
    users = call.services.queries.users(q.text("after"), limit)
    return {
        "items": [_user(u) for u in users],
        "next": users[-1].uid if len(users) == limit else None,
    }


def _path_user(call: OpCall) -> User:
    """The user the path names; 404000 if there is none."""
    uid = call.path_params["uid"]
    user = call.services.reader.user(uid)
    if user is None:
        raise NotFound(f"no user {uid!r}")
    return user


def get_user(call: OpCall) -> dict[str, Any]:
    return _user(_path_user(call))


# --- API keys -----------------------------------------------------------------------


def _key(stored: StoredKey) -> dict[str, Any]:
    return {
        "key": stored.key,
        "uid": stored.uid,
        "permissions": sorted(filter(None, stored.permissions.split(","))),
        "ipWhitelist": list(filter(None, stored.ip_whitelist.split(","))),
        "keyVersion": stored.key_version,
        "createdAt": stored.created_at,
        "revokedAt": stored.revoked_at,
    }


def _permissions(f: Fields) -> frozenset[Permission] | None:
    names = _texts(f, "permissions")
    return None if names is None else Permission.parse_list(",".join(names))


def _networks(f: Fields) -> tuple[str, ...] | None:
    items = _texts(f, "ipWhitelist")
    if items is None:
        return None
    if any("," in item for item in items):
        raise InvalidInput("ipWhitelist", "one address or CIDR per item")
    return parse_networks(",".join(items))


def create_key(call: OpCall) -> dict[str, Any]:
    f = call.fields({"permissions", "ipWhitelist", "keyVersion", "passphrase"})
    s = call.services
    permissions = _permissions(f)
    api_key = key_service.create_key(
        s.uow,
        s.box,
        s.clock,
        uid=_path_user(call).uid,
        permissions=frozenset({Permission.GENERAL})
        if permissions is None
        else permissions,
        ip_whitelist=_networks(f) or (),
        key_version=f.integer("keyVersion", 3, low=1, high=3) or 3,
        passphrase=f.text("passphrase"),
    )
    return {
        "key": api_key.key,
        "uid": api_key.uid,
        "permissions": sorted(api_key.permissions),
        "ipWhitelist": list(api_key.ip_whitelist),
        "keyVersion": api_key.key_version,
        "createdAt": api_key.created_at,
        "revokedAt": None,
        "secret": api_key.secret,
        "passphrase": api_key.passphrase,
    }


def list_keys(call: OpCall) -> list[dict[str, Any]]:
    s = call.services
    return [_key(k) for k in key_service.list_keys(s.uow, _path_user(call).uid)]


def update_key(call: OpCall) -> dict[str, Any]:
    f = call.fields({"permissions", "ipWhitelist"})
    s = call.services
    try:
        changed = key_service.update_key(
            s.uow,
            s.box,
            call.path_params["key"],
            permissions=_permissions(f),
            ip_whitelist=_networks(f),
        )
    except UnknownApiKey as exc:  # a 404 here, not the caller's 400003
        raise NotFound(str(exc)) from None
    return _key(changed)


def revoke_key(call: OpCall) -> dict[str, Any]:
    s = call.services
    key = call.path_params["key"]
    try:
        key_service.revoke_key(s.uow, s.clock, key)
    except UnknownApiKey as exc:  # a 404 here, not the caller's 400003
        raise NotFound(str(exc)) from None
    return {"key": key, "revoked": True}


# --- balances and verify --------------------------------------------------------------


def get_balances(call: OpCall) -> dict[str, Any]:
    uid = _path_user(call).uid
    at = call.query.integer("at")
    now = at is None
    return {
        "uid": uid,
        "at": at,
        "accounts": [
            {
                "id": b.account.id,
                "type": b.account.key.type.value,
                "currency": b.account.key.currency,
                "balance": to_wire(b.balance),
                "available": to_wire(b.account.available) if now else None,
                "holds": to_wire(b.account.holds) if now else None,
                "seq": b.seq,
                "lastEntryAt": b.entry_at or None,
            }
            for b in operator.balances(call.services.queries, uid, at)
        ],
    }


def get_verify_status(call: OpCall) -> dict[str, Any]:
    status = call.services.queries.verify_status()
    return {
        "lastCleanAt": status.last_verified_at,
        "accounts": status.accounts,
        "checkpointed": status.checkpointed,
        "behind": status.behind,
    }


# --- schemas and the table ------------------------------------------------------------

RESULT = obj(
    uid=STRING,
    id=STRING,
    op=STRING,
    entries=array(STRING),
    createdAt=INTEGER,
    replayed=BOOLEAN,
)
OPERATION_BODY: dict[str, Any] = {
    "type": "object",
    "description": "an operation, as a line of `kuledger post` (operations.md)",
    "properties": {
        "op": {"type": "string", "enum": sorted(OPERATIONS)},
        "uid": STRING,
        "id": {"type": "string", "maxLength": 128},
        "at": INTEGER,
    },
    "required": ["op", "uid", "id"],
}
BATCH_ITEM: dict[str, Any] = {
    "type": "object",
    "properties": {"index": INTEGER, "code": CODE, "result": RESULT, "msg": STRING},
    "required": ["index", "code"],
    "oneOf": [{"required": ["result"]}, {"required": ["msg"]}],
}
ENTRY = obj(
    id=STRING,
    accountId=STRING,
    accountType=STRING,
    currency=STRING,
    amount=STRING,
    fee=STRING,
    balance=STRING,
    direction={"type": "string", "enum": ["in", "out"]},
    bizType=STRING,
    createdAt=INTEGER,
    context=STRING,
    seq=INTEGER,
)
USER = obj(
    uid=STRING,
    parentUid=nullable(STRING),
    vipLevel=INTEGER,
    hf=BOOLEAN,
    createdAt=INTEGER,
)
KEY = obj(
    key=STRING,
    uid=STRING,
    permissions=array(STRING),
    ipWhitelist=array(STRING),
    keyVersion=INTEGER,
    createdAt=INTEGER,
    revokedAt=nullable(INTEGER),
)
NEW_KEY = obj(**KEY["properties"], secret=STRING, passphrase=STRING)
KEY_FIELDS = {
    "permissions": array(
        {"type": "string", "enum": [p.value for p in Permission]}, minItems=1
    ),
    "ipWhitelist": array(STRING),
}


UID = path("uid", "the user's uid")
KEY_PARAM = path("key", "the API key (its public name)")

ENDPOINTS: tuple[OperatorEndpoint, ...] = (
    OperatorEndpoint(
        "POST",
        f"{PREFIX}/operations",
        post_operation,
        "Apply one operation (idempotent by uid and id)",
        Scope.POST,
        RESULT,
        body=OPERATION_BODY,
        hot=True,
    ),
    OperatorEndpoint(
        "POST",
        f"{PREFIX}/operations:batch",
        post_batch,
        "Apply up to 1000 operations, each on its own or all or nothing",
        Scope.POST,
        obj(
            atomic=BOOLEAN,
            accepted=INTEGER,
            rejected=INTEGER,
            results=array(BATCH_ITEM),
        ),
        body={
            "type": "object",
            "properties": {
                "operations": array(OPERATION_BODY, minItems=1, maxItems=MAX_BATCH),
                "atomic": BOOLEAN,
            },
            "required": ["operations"],
            "additionalProperties": False,
        },
        hot=True,
    ),
    OperatorEndpoint(
        "GET",
        f"{PREFIX}/operations/{{uid}}/{{id:path}}",
        get_operation,
        "An applied operation and its entries",
        Scope.READ,
        obj(
            uid=STRING,
            id=STRING,
            op=STRING,
            status={"type": "string", "enum": ["applied"]},
            createdAt=INTEGER,
            entries=array(ENTRY),
        ),
        params=(UID, path("id", "the operation's id")),
    ),
    OperatorEndpoint(
        "POST",
        f"{PREFIX}/users",
        create_user,
        "Create a user (or a sub-account, with parentUid)",
        Scope.ADMIN,
        USER,
        body={
            "type": "object",
            "properties": {
                "uid": STRING,
                "parentUid": STRING,
                "vipLevel": {"type": "integer", "minimum": 0, "maximum": MAX_VIP_LEVEL},
                "hf": BOOLEAN,
            },
            "additionalProperties": False,
        },
    ),
    OperatorEndpoint(
        "GET",
        f"{PREFIX}/users",
        list_users,
        "Users by uid, a page at a time",
        Scope.READ,
        obj(items=array(USER), next=nullable(STRING)),
        params=(
            query("after", STRING, "uids after this one (the previous page's next)"),
            query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                "page size (100)",
            ),
        ),
    ),
    OperatorEndpoint(
        "GET",
        f"{PREFIX}/users/{{uid}}",
        get_user,
        "One user",
        Scope.READ,
        USER,
        params=(UID,),
    ),
    OperatorEndpoint(
        "GET",
        f"{PREFIX}/users/{{uid}}/accounts",
        get_balances,
        "A user's accounts: balances now, or at a time (from post-balances)",
        Scope.READ,
        obj(
            uid=STRING,
            at=nullable(INTEGER),
            accounts=array(
                obj(
                    id=STRING,
                    type=STRING,
                    currency=STRING,
                    balance=STRING,
                    available=nullable(STRING),
                    holds=nullable(STRING),
                    seq=INTEGER,
                    lastEntryAt=nullable(INTEGER),
                )
            ),
        ),
        params=(
            UID,
            query(
                "at", INTEGER, "a time in ms: each balance after its last entry then"
            ),
        ),
    ),
    OperatorEndpoint(
        "POST",
        f"{PREFIX}/users/{{uid}}/api-keys",
        create_key,
        "Issue an API key: the secret and passphrase are shown only here",
        Scope.ADMIN,
        NEW_KEY,
        body={
            "type": "object",
            "properties": {
                **KEY_FIELDS,
                "keyVersion": {"type": "integer", "enum": [1, 2, 3]},
                "passphrase": STRING,
            },
            "additionalProperties": False,
        },
        params=(UID,),
    ),
    OperatorEndpoint(
        "GET",
        f"{PREFIX}/users/{{uid}}/api-keys",
        list_keys,
        "A user's API keys, without their secrets",
        Scope.READ,
        array(KEY),
        params=(UID,),
    ),
    OperatorEndpoint(
        "PATCH",
        f"{PREFIX}/api-keys/{{key}}",
        update_key,
        "Change an API key's permissions or IP whitelist",
        Scope.ADMIN,
        KEY,
        body={
            "type": "object",
            "properties": KEY_FIELDS,
            "additionalProperties": False,
        },
        params=(KEY_PARAM,),
    ),
    OperatorEndpoint(
        "DELETE",
        f"{PREFIX}/api-keys/{{key}}",
        revoke_key,
        "Revoke an API key",
        Scope.ADMIN,
        obj(key=STRING, revoked={"type": "boolean", "enum": [True]}),
        params=(KEY_PARAM,),
    ),
    OperatorEndpoint(
        "GET",
        f"{PREFIX}/verify",
        get_verify_status,
        "What the last clean `kuledger verify` checkpointed",
        Scope.READ,
        obj(
            lastCleanAt=nullable(INTEGER),
            accounts=INTEGER,
            checkpointed=INTEGER,
            behind=INTEGER,
        ),
    ),
    OperatorEndpoint(
        "GET",
        f"{PREFIX}/users/{{uid}}/fees",
        fee_endpoints.get_fees,
        "A user's fee rates: the defaults and every rate the operator set",
        Scope.READ,
        fee_endpoints.FEES,
        params=(UID,),
    ),
    OperatorEndpoint(
        "PUT",
        f"{PREFIX}/users/{{uid}}/fees",
        fee_endpoints.put_fee,
        "Set a user's fee rate for a market (spot, futures), or one symbol",
        Scope.ADMIN,
        fee_endpoints.FEE_ROW,
        body=fee_endpoints.FEE_BODY,
        params=(UID,),
    ),
    OperatorEndpoint(
        "DELETE",
        f"{PREFIX}/users/{{uid}}/fees",
        fee_endpoints.delete_fee,
        "Remove a fee rate the operator set: the default applies again",
        Scope.ADMIN,
        fee_endpoints.DELETED,
        params=(
            UID,
            query("market", STRING, "spot or futures"),
            query("symbol", STRING, "the symbol's own rate (default: the market's)"),
        ),
    ),
)
