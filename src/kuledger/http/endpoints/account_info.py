"""The Account service's views of the user beyond the account list: the
account summary, the calling key's info, and the futures account overview.
Margin accounts are in margin_accounts.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from kuledger.domain.accounts import AccountType
from kuledger.domain.errors import InvalidInput, UnknownApiKey
from kuledger.domain.money import ZERO, to_wire
from kuledger.domain.subaccounts import key_permission_text
from kuledger.domain.users import Permission
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import (
    BOOLEAN,
    INTEGER,
    STRING,
    obj,
    query,
)
from kuledger.http.routing import Endpoint
from kuledger.services.account_info import (
    account_summary,
)

NUMBER: dict[str, Any] = {"type": "number"}


def _uid(uid: str) -> int | str:
    """KuCoin's uids are integers; a kuledger uid that is not digits stays text."""
    return int(uid) if uid.isascii() and uid.isdigit() and len(uid) < 19 else uid


# --- GET /api/v2/user-info, GET /api/v1/user/api-key ---------------------------


def get_account_info(call: Call) -> dict[str, int]:
    user = call.services.reader.user(call.uid)
    queries = call.services.account_info
    assert user is not None  # the key authenticated: its user exists
    s = account_summary(user, queries.sub_accounts(call.uid) if queries else [])
    return {
        "level": s.level,
        "subQuantity": s.subs,
        "spotSubQuantity": s.subs,
        "marginSubQuantity": s.margin_subs,
        "futuresSubQuantity": s.futures_subs,
        "optionSubQuantity": 0,
        "maxSubQuantity": s.max_subs,
        "maxDefaultSubQuantity": s.max_subs,
        "maxSpotSubQuantity": 0,
        "maxMarginSubQuantity": 0,
        "maxFuturesSubQuantity": 0,
        "maxOptionSubQuantity": 0,
    }


def get_apikey_info(call: Call) -> dict[str, Any]:
    assert call.principal is not None
    stored = call.services.reader.api_key(call.principal.key)
    user = call.services.reader.user(call.uid)
    if stored is None or user is None:  # revoked between the check and now
        raise UnknownApiKey(call.principal.key)
    queries = call.services.account_info
    remark, name = queries.key_labels(stored.key, user.uid) if queries else ("", None)
    is_master = user.parent_uid is None
    return {
        "remark": remark,
        "apiKey": stored.key,
        "apiVersion": stored.key_version,
        "permission": key_permission_text(frozenset(stored.permissions.split(","))),
        "ipWhitelist": stored.ip_whitelist,
        "createdAt": stored.created_at,
        "uid": _uid(stored.uid),
        "isMaster": is_master,
        "subName": "" if is_master else name or user.uid,
    }


# --- GET /api/v1/account-overview (futures host) --------------------------------


def _number(amount: Decimal) -> orjson.Fragment:
    return orjson.Fragment(to_wire(amount).encode())


def get_futures_account(call: Call) -> dict[str, Any]:
    asked = call.query.text("currency") or "XBT"
    code = "BTC" if asked == "XBT" else asked  # XBT: the futures host's BTC
    if code not in call.services.reader.currencies():
        raise InvalidInput("currency", f"currency not supported: {asked!r}")
    found = call.services.reader.accounts(call.uid, code, AccountType.CONTRACT)
    balance = found[0].balance if found else ZERO
    available = found[0].available if found else ZERO
    return {
        "accountEquity": _number(balance),
        "unrealisedPNL": _number(ZERO),
        "marginBalance": _number(balance),
        "positionMargin": _number(ZERO),
        "orderMargin": _number(balance - available),
        "frozenFunds": _number(ZERO),
        "availableBalance": _number(available),
        "currency": asked,
        "riskRatio": _number(ZERO),
        "maxWithdrawAmount": _number(available),
    }


# --- the table --------------------------------------------------------------------
_SUMMARY_FIELDS = [
    "level",
    "subQuantity",
    "spotSubQuantity",
    "marginSubQuantity",
    "futuresSubQuantity",
    "optionSubQuantity",
    "maxSubQuantity",
    "maxDefaultSubQuantity",
    "maxSpotSubQuantity",
    "maxMarginSubQuantity",
    "maxFuturesSubQuantity",
    "maxOptionSubQuantity",
]
_API_KEY = obj(
    remark=STRING,
    apiKey=STRING,
    apiVersion=INTEGER,
    permission=STRING,
    ipWhitelist=STRING,
    createdAt=INTEGER,
    uid={"type": ["integer", "string"]},
    isMaster=BOOLEAN,
    subName=STRING,  # "" for a master
)

ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v2/user-info",
        get_account_info,
        "Get Account Summary Info",
        pool="Management",
        weight=20,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470119",
        response=obj(**dict.fromkeys(_SUMMARY_FIELDS, INTEGER)),
    ),
    Endpoint(
        "GET",
        "/api/v1/user/api-key",
        get_apikey_info,
        "Get Apikey Info",
        pool="Management",
        weight=20,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470130",
        response=_API_KEY,
    ),
    Endpoint(
        "GET",
        "/api/v1/account-overview",
        get_futures_account,
        "Get Account - Futures",
        permission=Permission.FUTURES,
        pool="Futures",
        weight=5,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470129",
        params=(query("currency", STRING, "XBT (default), USDT, ..."),),
        response=obj(
            **dict.fromkeys(
                [
                    "accountEquity",
                    "unrealisedPNL",
                    "marginBalance",
                    "positionMargin",
                    "orderMargin",
                    "frozenFunds",
                    "availableBalance",
                ],
                NUMBER,
            ),
            currency=STRING,
            riskRatio=NUMBER,
            maxWithdrawAmount=NUMBER,
        ),
    ),
)
