"""Every method of KuCoin's official universal SDK's `subaccount` and
`transfer` API classes, against a real `kuledger serve` on both engines
(`module_server`), each answer checked against the database
(tests/support/db_view.py).

The SDK swallows parse errors (a model of None), so each model is also
compared with the raw JSON it was parsed from.
"""

from __future__ import annotations

import inspect
import json
import uuid
from typing import Any

import ccxt
import pytest
from kucoin_universal_sdk.generate.account.account.model_get_spot_account_list_req import (  # noqa: E501
    GetSpotAccountListReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.api_sub_account import (
    SubAccountAPI,
)
from kucoin_universal_sdk.generate.account.subaccount.model_add_sub_account_api_req import (  # noqa: E501
    AddSubAccountApiReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_add_sub_account_futures_permission_req import (  # noqa: E501
    AddSubAccountFuturesPermissionReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_add_sub_account_margin_permission_req import (  # noqa: E501
    AddSubAccountMarginPermissionReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_add_sub_account_req import (
    AddSubAccountReq,
    AddSubAccountReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_delete_sub_account_api_req import (  # noqa: E501
    DeleteSubAccountApiReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_get_futures_sub_account_list_v2_req import (  # noqa: E501
    GetFuturesSubAccountListV2ReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_get_spot_sub_account_detail_req import (  # noqa: E501
    GetSpotSubAccountDetailReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_get_spot_sub_account_list_v2_req import (  # noqa: E501
    GetSpotSubAccountListV2ReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_get_spot_sub_accounts_summary_v2_req import (  # noqa: E501
    GetSpotSubAccountsSummaryV2ReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_get_sub_account_api_list_req import (  # noqa: E501
    GetSubAccountApiListReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_modify_sub_account_api_req import (  # noqa: E501
    ModifySubAccountApiReqBuilder,
)
from kucoin_universal_sdk.generate.account.transfer.api_transfer import TransferAPI
from kucoin_universal_sdk.generate.account.transfer.model_flex_transfer_req import (
    FlexTransferReq,
    FlexTransferReqBuilder,
)
from kucoin_universal_sdk.generate.account.transfer.model_futures_account_transfer_in_req import (  # noqa: E501
    FuturesAccountTransferInReq,
    FuturesAccountTransferInReqBuilder,
)
from kucoin_universal_sdk.generate.account.transfer.model_futures_account_transfer_out_req import (  # noqa: E501
    FuturesAccountTransferOutReq,
    FuturesAccountTransferOutReqBuilder,
)
from kucoin_universal_sdk.generate.account.transfer.model_get_futures_account_transfer_out_ledger_req import (  # noqa: E501
    GetFuturesAccountTransferOutLedgerReqBuilder,
)
from kucoin_universal_sdk.generate.account.transfer.model_get_transfer_quotas_req import (  # noqa: E501
    GetTransferQuotasReq,
    GetTransferQuotasReqBuilder,
)
from kucoin_universal_sdk.generate.account.transfer.model_inner_transfer_req import (
    InnerTransferReq,
    InnerTransferReqBuilder,
)
from kucoin_universal_sdk.generate.account.transfer.model_sub_account_transfer_req import (  # noqa: E501
    SubAccountTransferReq,
    SubAccountTransferReqBuilder,
)
from kucoin_universal_sdk.model.common import RestError

from tests.e2e.test_hf_futures_transfers import CCXT_APIS
from tests.support import db_view
from tests.support.db_view import add_user, balance, db_ledger
from tests.support.server import ApiUser, LiveServer
from tests.support.universal_sdk import account_service

pytestmark = pytest.mark.slow  # a real server per engine, the SDK's own sockets

EVERY_PERMISSION = "General,Spot,Margin,Futures,FlexTransfers"
EVERY_ACCOUNT = GetSpotAccountListReqBuilder().build()


def without_none(value: Any) -> Any:
    """Raw JSON as the SDK's models dump it (exclude_none)."""
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_none(v) for v in value]
    return value


def parsed(resp: Any) -> Any:
    """The SDK's model as wire JSON, after checking it equals the raw data."""
    assert resp is not None, "the SDK could not parse the answer"
    raw = resp.common_response.data
    model = json.loads(resp.to_json())
    model.pop("commonResponse", None)
    model.pop("common_response", None)
    if "data" in model and not isinstance(raw, dict):
        model = model["data"]  # a list answer, wrapped by the SDK
    assert model == without_none(raw), "the SDK's parse differs from the raw data"
    return raw


@pytest.fixture
def master(module_server: LiveServer) -> ApiUser:
    uid = f"sdk-master-{uuid.uuid4().hex[:8]}"
    user = add_user(module_server, uid, permissions=EVERY_PERMISSION)
    deposit = {"op": "deposit", "uid": uid, "id": "d1", "currency": "USDT"}
    module_server.cli.post([{**deposit, "amount": "100"}])
    return user


def test_every_subaccount_and_transfer_method_against_the_ledger(module_server, master):
    server = module_server
    name = f"sdk{uuid.uuid4().hex[:8]}7"
    with account_service(server, master) as service:
        subs, transfers = service.get_sub_account_api(), service.get_transfer_api()

        # create; permissions; the two summaries
        created = parsed(
            subs.add_sub_account(
                AddSubAccountReqBuilder()
                .set_sub_name(name)
                .set_password("abc12345")
                .set_access(AddSubAccountReq.AccessEnum.SPOT)
                .set_remarks("sdk")
                .build()
            )
        )
        sub_uid = str(created["uid"])
        assert db_view.container(server).reader.user(sub_uid).parent_uid == master.uid
        margin = AddSubAccountMarginPermissionReqBuilder().set_uid(sub_uid).build()
        futures = AddSubAccountFuturesPermissionReqBuilder().set_uid(sub_uid).build()
        assert (
            subs.add_sub_account_margin_permission(margin).common_response.data is None
        )
        assert (
            subs.add_sub_account_futures_permission(futures).common_response.data
            is None
        )
        summary = parsed(
            subs.get_spot_sub_accounts_summary_v2(
                GetSpotSubAccountsSummaryV2ReqBuilder().set_page_size(10).build()
            )
        )
        [item] = summary["items"]
        assert (item["userId"], item["subName"], item["tradeTypes"]) == (
            sub_uid,
            name,
            ["Spot", "Margin", "Futures"],
        )
        [v1] = parsed(subs.get_spot_sub_accounts_summary_v1())
        assert (v1["userId"], v1["subName"]) == (sub_uid, name)

        # every transfer method of the class, each checked on both sides
        moved = parsed(
            transfers.sub_account_transfer(
                SubAccountTransferReqBuilder()
                .set_client_oid(uuid.uuid4().hex)
                .set_currency("USDT")
                .set_amount("30")
                .set_direction(SubAccountTransferReq.DirectionEnum.OUT)
                .set_account_type(SubAccountTransferReq.AccountTypeEnum.MAIN)
                .set_sub_account_type(SubAccountTransferReq.SubAccountTypeEnum.TRADE)
                .set_sub_user_id(sub_uid)
                .build()
            )
        )
        assert len(moved["orderId"]) == 24
        assert (
            balance(server, master.uid, "main"),
            balance(server, sub_uid, "trade"),
        ) == (
            "70",
            "30",
        )
        [into_sub] = [e for e in db_ledger(server, sub_uid) if e["direction"] == "in"]
        assert (into_sub["bizType"], into_sub["amount"]) == ("SUB_TRANSFER", "30")
        parsed(
            transfers.flex_transfer(
                FlexTransferReqBuilder()
                .set_client_oid(uuid.uuid4().hex)
                .set_currency("USDT")
                .set_amount("8")
                .set_type(FlexTransferReq.TypeEnum.PARENT_TO_SUB)
                .set_to_user_id(sub_uid)
                .set_from_account_type(FlexTransferReq.FromAccountTypeEnum.MAIN)
                .set_to_account_type(FlexTransferReq.ToAccountTypeEnum.CONTRACT)
                .build()
            )
        )
        assert balance(server, sub_uid, "contract") == "8"
        parsed(
            transfers.inner_transfer(
                InnerTransferReqBuilder()
                .set_client_oid(uuid.uuid4().hex)
                .set_currency("USDT")
                .set_amount("2")
                .set_from_(InnerTransferReq.FromEnum.MAIN)
                .set_to(InnerTransferReq.ToEnum.TRADE)
                .build()
            )
        )
        quota = parsed(
            transfers.get_transfer_quotas(
                GetTransferQuotasReqBuilder()
                .set_currency("USDT")
                .set_type(GetTransferQuotasReq.TypeEnum.MAIN)
                .build()
            )
        )
        assert quota["transferable"] == balance(server, master.uid, "main") == "60"

        # balances: detail, v1, v2, futures
        detail = parsed(
            subs.get_spot_sub_account_detail(
                GetSpotSubAccountDetailReqBuilder()
                .set_sub_user_id(sub_uid)
                .set_include_base_amount(True)
                .build()
            )
        )
        [trade] = detail["tradeAccounts"]
        assert (trade["balance"], trade["available"]) == ("30", "30")
        [listed] = parsed(subs.get_spot_sub_account_list_v1())
        page = parsed(
            subs.get_spot_sub_account_list_v2(
                GetSpotSubAccountListV2ReqBuilder().set_current_page(1).build()
            )
        )
        assert listed == page["items"][0] and listed["subUserId"] == sub_uid
        overview = parsed(
            subs.get_futures_sub_account_list_v2(
                GetFuturesSubAccountListV2ReqBuilder().set_currency("USDT").build()
            )
        )
        assert [
            (a["accountName"], a["accountEquity"]) for a in overview["accounts"]
        ] == [
            ("main", 0),
            (name, 8),
        ]

        # the deprecated futures transfers: amounts are floats on the wire
        into_futures = transfers.futures_account_transfer_in(
            FuturesAccountTransferInReqBuilder()
            .set_currency("USDT")
            .set_amount(5.1)
            .set_pay_account_type(FuturesAccountTransferInReq.PayAccountTypeEnum.MAIN)
            .build()
        )
        assert into_futures.common_response.data is None  # as KuCoin answers
        assert (
            balance(server, master.uid, "main"),
            balance(server, master.uid, "contract"),
        ) == ("54.9", "5.1")
        out_type = FuturesAccountTransferOutReq.RecAccountTypeEnum.TRADE
        out = parsed(
            transfers.futures_account_transfer_out(
                FuturesAccountTransferOutReqBuilder()
                .set_currency("USDT")
                .set_amount(0.1)
                .set_rec_account_type(out_type)
                .build()
            )
        )
        assert (out["amount"], out["status"], out["recAccountType"]) == (
            "0.1",
            "SUCCESS",
            "TRADE",
        )
        assert (
            balance(server, master.uid, "contract"),
            balance(server, master.uid, "trade"),
        ) == ("5", "2.1")
        history = parsed(
            transfers.get_futures_account_transfer_out_ledger(
                GetFuturesAccountTransferOutLedgerReqBuilder()
                .set_currency("USDT")
                .set_current_page(1)
                .set_page_size(10)
                .build()
            )
        )
        [listed_out] = history["items"]
        assert (listed_out["applyId"], listed_out["amount"]) == (out["applyId"], "0.1")
        [leg] = [e for e in db_ledger(server, master.uid) if e["id"] == str(out["sn"])]
        assert (leg["accountType"], leg["direction"], leg["amount"]) == (
            "CONTRACT",
            "out",
            "0.1",
        )

        # keys: create, use, list, modify, delete
        made = parsed(
            subs.add_sub_account_api(
                AddSubAccountApiReqBuilder()
                .set_sub_name(name)
                .set_remark("sdk key")
                .set_passphrase("pass12345")
                .set_permission("General,Spot")
                .build()
            )
        )
        sub_user = ApiUser(sub_uid, made["apiKey"], made["apiSecret"], "pass12345")
        with account_service(server, sub_user) as as_sub:
            own = as_sub.get_account_api().get_spot_account_list(EVERY_ACCOUNT)
            raw = own.common_response.data  # the sub's own accounts only
            assert {(a["type"], a["balance"]) for a in raw} == {
                ("trade", "30"),
                ("contract", "8"),
            }
        [key] = parsed(
            subs.get_sub_account_api_list(
                GetSubAccountApiListReqBuilder().set_sub_name(name).build()
            )
        )
        assert (key["apiKey"], key["permission"]) == (made["apiKey"], "General,Spot")
        changed = parsed(
            subs.modify_sub_account_api(
                ModifySubAccountApiReqBuilder()
                .set_sub_name(name)
                .set_api_key(made["apiKey"])
                .set_passphrase("pass12345")
                .set_permission("General")
                .build()
            )
        )
        assert changed["permission"] == "General"
        stored = db_view.container(server).reader.api_key(made["apiKey"])
        assert stored.permissions == "General"
        parsed(
            subs.delete_sub_account_api(
                DeleteSubAccountApiReqBuilder()
                .set_sub_name(name)
                .set_api_key(made["apiKey"])
                .set_passphrase("pass12345")
                .build()
            )
        )
        assert db_view.container(server).reader.api_key(made["apiKey"]).revoked_at
        with account_service(server, sub_user) as as_sub:
            with pytest.raises(RestError) as refused:
                as_sub.get_account_api().get_spot_account_list(EVERY_ACCOUNT)
            assert "400003" in str(refused.value)  # HTTP 401: KC-API-KEY not exists
    assert made["apiSecret"] not in server.log()


@pytest.mark.parametrize(
    ("api_class", "name"), [(SubAccountAPI, "subs"), (TransferAPI, "transfers")]
)
def test_the_sdk_test_calls_every_method_of_both_classes(api_class, name):
    """A method the SDK adds (or the test drops) fails here, not silently."""
    source = inspect.getsource(
        test_every_subaccount_and_transfer_method_against_the_ledger
    )
    methods = {m for m in vars(api_class) if not m.startswith("_")}
    assert methods and {m for m in methods if f"{name}.{m}(" not in source} == set()


def test_ccxts_sub_account_methods_against_the_ledger(module_server, master):
    """ccxt has no unified sub-account methods: its implicit API calls the
    routes (and versions) it maps them to, and transfer() the flex transfer."""
    server = module_server
    exchange = ccxt.kucoin(
        {
            "apiKey": master.key,
            "secret": master.secret,
            "password": master.passphrase,
            "urls": {"api": dict.fromkeys(CCXT_APIS, server.base_url)},
        }
    )
    name = f"ccxt{uuid.uuid4().hex[:8]}3"
    try:
        created = exchange.private_post_sub_user_created(
            {"subName": name, "password": "abc12345", "access": "Spot"}
        )["data"]
        sub_uid = str(created["uid"])
        listed = exchange.private_get_sub_user()["data"]  # v2 in ccxt's table
        assert [i["userId"] for i in listed["items"]] == [sub_uid]
        moved = exchange.private_post_accounts_sub_transfer(
            {
                "clientOid": uuid.uuid4().hex,
                "currency": "USDT",
                "amount": "12.5",
                "direction": "OUT",
                "subUserId": sub_uid,
            }
        )["data"]
        assert len(moved["orderId"]) == 24
        exchange.transfer(
            "USDT", 2, "main", "trade", {"transferType": "PARENT_TO_SUB",
                                         "toUserId": sub_uid}
        )  # fmt: skip
        assert (
            balance(server, sub_uid, "main"),
            balance(server, sub_uid, "trade"),
        ) == (
            "12.5",
            "2",
        )
        assert balance(server, master.uid, "main") == "85.5"
        detail = exchange.private_get_sub_accounts_subuserid({"subUserId": sub_uid})
        assert [a["balance"] for a in detail["data"]["mainAccounts"]] == ["12.5"]
        page = exchange.private_get_sub_accounts()["data"]  # v2
        assert [i["subUserId"] for i in page["items"]] == [sub_uid]
        key = exchange.private_post_sub_api_key(
            {"subName": name, "remark": "ccxt", "passphrase": "pass12345"}
        )["data"]
        exchange.private_post_sub_api_key_update(
            {"subName": name, "apiKey": key["apiKey"], "passphrase": "pass12345",
             "permission": "General,Spot"}
        )  # fmt: skip
        [shown] = exchange.private_get_sub_api_key({"subName": name})["data"]
        assert shown["permission"] == "General,Spot"
        exchange.private_delete_sub_api_key(
            {"subName": name, "apiKey": key["apiKey"], "passphrase": "pass12345"}
        )
        assert exchange.private_get_sub_api_key({"subName": name})["data"] == []
    finally:
        exchange.session.close()
