"""A master's API keys for its sub-accounts: create (the secret is in this
answer only), modify, list and delete. The caller chooses the passphrase;
modify and delete need it again."""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

from kuledger.domain.fields import choice, read, text
from kuledger.domain.subaccounts import KEY_EXPIRY_DAYS, key_permission_text
from kuledger.http.body import body_fields
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import (
    BOOLEAN,
    INTEGER,
    STRING,
    array,
    obj,
    query,
)
from kuledger.http.endpoints.subaccounts import kucoin_page, uid_number
from kuledger.http.routing import Endpoint
from kuledger.services import subaccounts
from kuledger.services.ports import SecretBox
from kuledger.services.subaccounts import KeyRequest, SubKey


class CreateKeyBody(NamedTuple):
    sub_name: Annotated[str, text("subName", required=True, max_len=64)]
    remark: Annotated[str, text("remark", required=True, max_len=64)]
    passphrase: Annotated[str, text("passphrase", required=True, max_len=64)]
    permission: Annotated[str | None, text("permission")] = None
    ip_whitelist: Annotated[str | None, text("ipWhitelist", max_len=1000)] = None
    expire: Annotated[str | None, choice("expire", KEY_EXPIRY_DAYS)] = None


class ModifyKeyBody(NamedTuple):
    sub_name: Annotated[str, text("subName", required=True, max_len=64)]
    api_key: Annotated[str, text("apiKey", required=True, max_len=64)]
    passphrase: Annotated[str, text("passphrase", required=True, max_len=64)]
    permission: Annotated[str | None, text("permission")] = None
    ip_whitelist: Annotated[str | None, text("ipWhitelist", max_len=1000)] = None
    expire: Annotated[str | None, choice("expire", KEY_EXPIRY_DAYS)] = None


class ListKeyParams(NamedTuple):
    sub_name: Annotated[str, text("subName", required=True, max_len=64)]
    api_key: Annotated[str | None, text("apiKey", max_len=64)] = None


class DeleteKeyParams(NamedTuple):
    api_key: Annotated[str, text("apiKey", required=True, max_len=64)]
    sub_name: Annotated[str, text("subName", required=True, max_len=64)]
    passphrase: Annotated[str, text("passphrase", required=True, max_len=64)]


def _box(call: Call) -> SecretBox:
    assert call.services.box is not None, "the app was built without a secret box"
    return call.services.box


def _shown(key: SubKey) -> dict[str, Any]:
    return {
        "subName": key.sub.name,
        "remark": key.info.remark,
        "apiKey": key.stored.key,
        "apiVersion": key.stored.key_version,
        "permission": key_permission_text(frozenset(key.stored.permissions.split(","))),
        "ipWhitelist": key.stored.ip_whitelist,
        "createdAt": key.stored.created_at,
    }


def create_key(call: Call) -> dict[str, Any]:
    body = read(CreateKeyBody, body_fields(call.body, call.content_type))
    made = subaccounts.create_sub_key(
        call.services.uow,
        _box(call),
        call.services.clock,
        call.uid,
        KeyRequest(
            body.sub_name,
            body.passphrase,
            body.permission,
            body.ip_whitelist,
            body.expire,
            body.remark,
        ),
    )
    return {**_shown(made), "apiSecret": made.secret, "passphrase": body.passphrase}


def modify_key(call: Call) -> dict[str, Any]:
    body = read(ModifyKeyBody, body_fields(call.body, call.content_type))
    changed = subaccounts.modify_sub_key(
        call.services.uow,
        _box(call),
        call.uid,
        body.api_key,
        KeyRequest(
            body.sub_name, body.passphrase, body.permission, body.ip_whitelist,
            body.expire,
        ),
    )  # fmt: skip
    shown = _shown(changed)
    return {k: shown[k] for k in ("subName", "apiKey", "permission", "ipWhitelist")}


def list_keys(call: Call) -> list[dict[str, Any]]:
    p = read(ListKeyParams, call.query)
    keys = subaccounts.sub_keys(call.services.uow, call.uid, p.sub_name, p.api_key)
    return [
        {**_shown(k), "uid": uid_number(k.sub.uid), "isMaster": False} for k in keys
    ]


def delete_key(call: Call) -> dict[str, str]:
    p = read(DeleteKeyParams, call.query)
    sub = subaccounts.delete_sub_key(
        call.services.uow,
        _box(call),
        call.services.clock,
        call.uid,
        p.api_key,
        KeyRequest(p.sub_name, p.passphrase),
    )
    return {"subName": sub.name, "apiKey": p.api_key}


KEY = {
    "subName": STRING,
    "remark": STRING,
    "apiKey": STRING,
    "apiVersion": INTEGER,
    "permission": STRING,
    "ipWhitelist": STRING,
    "createdAt": INTEGER,
}


ENDPOINTS = (
    Endpoint(
        "POST",
        "/api/v1/sub/api-key",
        create_key,
        "Add sub-account API",
        pool="Management",
        weight=20,
        kucoin_doc=kucoin_page(3470138),
        response=obj(**KEY, apiSecret=STRING, passphrase=STRING),
    ),
    Endpoint(
        "POST",
        "/api/v1/sub/api-key/update",
        modify_key,
        "Modify sub-account API",
        pool="Management",
        weight=30,
        kucoin_doc=kucoin_page(3470139),
        response=obj(
            subName=STRING, apiKey=STRING, permission=STRING, ipWhitelist=STRING
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/sub/api-key",
        list_keys,
        "Get sub-account API List",
        pool="Management",
        weight=20,
        kucoin_doc=kucoin_page(3470136),
        params=(
            query("subName", STRING, "the sub-account's name (required)"),
            query("apiKey", STRING, "only this key"),
        ),
        response=array(obj(**KEY, uid=INTEGER, isMaster=BOOLEAN)),
    ),
    Endpoint(
        "DELETE",
        "/api/v1/sub/api-key",
        delete_key,
        "Delete sub-account API",
        pool="Management",
        weight=30,
        kucoin_doc=kucoin_page(3470137),
        params=(
            query("apiKey", STRING, "the key (required)"),
            query("subName", STRING, "the sub-account's name (required)"),
            query("passphrase", STRING, "the key's passphrase (required)"),
        ),
        response=obj(subName=STRING, apiKey=STRING),
    ),
)
