"""Accounts: list, detail, and whether the caller's trade account is the HF one."""

from __future__ import annotations

from typing import Annotated, NamedTuple

from kuledger.domain.accounts import AccountType
from kuledger.domain.errors import AccountNotFound
from kuledger.domain.fields import choice, read, text
from kuledger.domain.money import to_wire
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import (
    BOOLEAN,
    STRING,
    array,
    obj,
    path,
    query,
)
from kuledger.http.routing import Endpoint
from kuledger.http.wire import account_item

_TYPES = tuple(t.value for t in AccountType)


class AccountListParams(NamedTuple):
    type: Annotated[str | None, choice("type", _TYPES)] = None
    currency: Annotated[str | None, text("currency")] = None


def get_account_list(call: Call) -> list[dict[str, str]]:
    p = read(AccountListParams, call.query)
    accounts = call.services.reader.accounts(
        call.uid, p.currency, AccountType(p.type) if p.type else None
    )
    return [account_item(a) for a in accounts]


def get_account_detail(call: Call) -> dict[str, str]:
    account_id = call.path_params["accountId"]
    account = (  # PostgreSQL text cannot hold NUL: no such account
        None
        if "\x00" in account_id
        else call.services.reader.account(call.uid, account_id)
    )
    if account is None:
        raise AccountNotFound(account_id)
    return {
        "currency": account.key.currency,
        "balance": to_wire(account.balance),
        "available": to_wire(account.available),
        "holds": to_wire(account.holds),
    }


def get_spot_account_type(call: Call) -> bool:
    user = call.services.reader.user(call.uid)
    return bool(user and user.hf)


ACCOUNT = obj(
    id=STRING,
    currency=STRING,
    type=STRING,
    balance=STRING,
    available=STRING,
    holds=STRING,
)

ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/accounts",
        get_account_list,
        "Get Account List - Spot",
        pool="Management",
        weight=5,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470125",
        params=(
            query("currency", STRING, "currency code"),
            query("type", {"type": "string", "enum": list(_TYPES)}, "account type"),
        ),
        response=array(ACCOUNT),
        inline=True,
    ),
    Endpoint(
        "GET",
        "/api/v1/accounts/{accountId}",
        get_account_detail,
        "Get Account Detail - Spot",
        pool="Management",
        weight=5,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470126",
        params=(path("accountId", "the account id from GET /api/v1/accounts"),),
        response=obj(currency=STRING, balance=STRING, available=STRING, holds=STRING),
        inline=True,
    ),
    Endpoint(
        "GET",
        "/api/v1/hf/accounts/opened",
        get_spot_account_type,
        "Get Account Type - Spot",
        pool="Spot",
        weight=30,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470120",
        response=BOOLEAN,
    ),
)
