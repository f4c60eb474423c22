"""Deposits and withdrawals against a running server on both engines: the
official kucoin-universal-sdk's Account `deposit` and `withdrawal` APIs (every
method) and ccxt's fetchDeposits, fetchWithdrawals, fetchDepositAddress and
withdraw; the operator's side through `kuledger funding`. Each response is
checked against KuCoin's OpenAPI schema, and each balance change against the
ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from kucoin_universal_sdk.api.client import DefaultClient
from kucoin_universal_sdk.generate.account.deposit import (
    AddDepositAddressV1ReqBuilder,
    AddDepositAddressV3ReqBuilder,
    GetDepositAddressV1ReqBuilder,
    GetDepositAddressV2ReqBuilder,
    GetDepositAddressV3ReqBuilder,
    GetDepositHistoryOldReqBuilder,
    GetDepositHistoryReqBuilder,
)
from kucoin_universal_sdk.generate.account.withdrawal import (
    CancelWithdrawalReqBuilder,
    GetWithdrawalHistoryByIdReqBuilder,
    GetWithdrawalHistoryOldReqBuilder,
    GetWithdrawalHistoryReqBuilder,
    GetWithdrawalQuotasReqBuilder,
    WithdrawalV1ReqBuilder,
    WithdrawalV3Req,
    WithdrawalV3ReqBuilder,
)
from kucoin_universal_sdk.model.client_option import ClientOptionBuilder
from kucoin_universal_sdk.model.transport_option import TransportOptionBuilder

from tests.e2e.test_real_clients import CCXT_APIS
from tests.support.api import new_uid
from tests.support.kucoin_openapi import find_operation, location, response_errors
from tests.support.server import ApiUser, LiveServer


def schema_ok(
    server: LiveServer,
    user: ApiUser,
    method: str,
    path: str,
    template: str,
    body: str = "",
) -> Any:
    """Call the endpoint; check KuCoin's envelope and its OpenAPI schema."""
    response = server.signed(user, method, path, body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["code"] == "200000", payload
    operation = find_operation(method, template)
    assert operation is not None, template
    errors = response_errors(operation, payload)
    assert not errors, [(location(e), e.message) for e in errors]
    return payload["data"]


def fail_code(
    server: LiveServer, user: ApiUser, method: str, path: str, body: str = ""
) -> str:
    payload = server.signed(user, method, path, body).json()
    assert set(payload) == {"code", "msg"}, payload
    return str(payload["code"])


def withdrawal_body(amount: str) -> str:
    return json.dumps(
        {
            "currency": "USDT",
            "amount": amount,
            "toAddress": "0xdead",
            "withdrawType": "ADDRESS",
        }
    )


def cli_json(server: LiveServer, *args: str) -> Any:
    return server.cli.json("funding", *args)


def balances(server: LiveServer, uid: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows = server.cli.json("accounts", "--uid", uid, "--json")
    return {(r["type"], r["currency"]): r for r in rows}


def ledger(server: LiveServer, uid: str) -> list[dict[str, Any]]:
    return list(server.cli.json("ledger", "--uid", uid, "--json"))


@pytest.fixture
def user(module_server: LiveServer) -> ApiUser:
    return module_server.add_user(new_uid("fund"), permissions="General,Withdrawal")


@pytest.fixture
def sdk(module_server: LiveServer, user: ApiUser) -> Iterator[Any]:
    base = module_server.base_url
    option = (
        ClientOptionBuilder()
        .set_key(user.key)
        .set_secret(user.secret)
        .set_passphrase(user.passphrase)
        .set_spot_endpoint(base)
        .set_futures_endpoint(base)
        .set_broker_endpoint(base)
        .set_transport_option(TransportOptionBuilder().build())
        .build()
    )
    service = DefaultClient(option).rest_service().get_account_service()
    yield service
    service.get_deposit_api().transport.close()


@pytest.fixture
def kucoin(module_server: LiveServer, user: ApiUser) -> Iterator[Any]:
    exchange = ccxt.kucoin(
        {
            "apiKey": user.key,
            "secret": user.secret,
            "password": user.passphrase,
            "urls": {"api": dict.fromkeys(CCXT_APIS, module_server.base_url)},
        }
    )
    yield exchange
    exchange.session.close()


def test_each_currencys_chain_and_fee_are_the_catalogues(module_server, user):
    """GET /api/v3/currencies names the chain an address is made on, a quota
    reports and a withdrawal is charged for: one table (DEFAULT_CHAINS)."""
    s = module_server
    catalogue = schema_ok(s, user, "GET", "/api/v3/currencies", "/api/v3/currencies")
    assert len(catalogue) >= 10
    for item in catalogue:
        code = item["currency"]
        [chain] = item["chains"]
        made = schema_ok(
            s,
            user,
            "POST",
            "/api/v3/deposit-address/create",
            "/api/v3/deposit-address/create",
            json.dumps({"currency": code}),
        )
        assert (made["chainId"], made["chainName"]) == (
            chain["chainId"],
            chain["chainName"],
        ), code
        quota = schema_ok(
            s,
            user,
            "GET",
            f"/api/v1/withdrawals/quotas?currency={code}",
            "/api/v1/withdrawals/quotas",
        )
        assert quota["chain"] == chain["chainName"], code
        assert quota["withdrawMinFee"] == chain["withdrawalMinFee"], code
        # a flat fee (withdrawFeeRate 0): the least and the most are the one fee
        assert chain["withdrawMaxFee"] == chain["withdrawalMinFee"], code
    fees = {i["currency"]: i["chains"][0]["withdrawalMinFee"] for i in catalogue}
    assert (fees["BTC"], fees["USDT"], fees["SOL"]) == ("0.0005", "1", "0")


def test_a_deposit_shows_in_history_balance_and_ledger_only_once_it_succeeds(
    module_server, user
):
    s = module_server
    made = schema_ok(
        s,
        user,
        "POST",
        "/api/v3/deposit-address/create",
        "/api/v3/deposit-address/create",
        '{"currency":"USDT","chain":"trx"}',
    )
    assert made["chainId"] == "trx" and made["currency"] == "USDT"
    assert (
        fail_code(
            s,
            user,
            "POST",
            "/api/v3/deposit-address/create",
            '{"currency":"USDT","chain":"trx"}',
        )
        == "260000"
    )
    listed = schema_ok(
        s,
        user,
        "GET",
        "/api/v3/deposit-addresses?currency=USDT",
        "/api/v3/deposit-addresses",
    )
    assert [a["address"] for a in listed] == [made["address"]]

    record = cli_json(
        s,
        "deposit",
        "--uid",
        user.uid,
        "--currency",
        "USDT",
        "--amount",
        "250.5",
        "--chain",
        "trx",
        "--tx-id",
        "0xabc",
    )
    assert record["status"] == "PROCESSING" and record["address"] == made["address"]
    page = schema_ok(
        s, user, "GET", "/api/v1/deposits?currency=USDT", "/api/v1/deposits"
    )
    assert [(i["status"], i["amount"]) for i in page["items"]] == [
        ("PROCESSING", "250.5")
    ]
    assert ("main", "USDT") not in balances(s, user.uid)
    assert ledger(s, user.uid) == []

    done = cli_json(s, "advance-deposit", record["id"], "--status", "SUCCESS")
    assert done["status"] == "SUCCESS" and done["op_id"] == f"deposit:{record['id']}"
    again = cli_json(s, "advance-deposit", record["id"], "--status", "SUCCESS")
    assert again == done  # a replay changes nothing
    page = schema_ok(
        s,
        user,
        "GET",
        "/api/v1/deposits?currency=USDT&status=SUCCESS",
        "/api/v1/deposits",
    )
    assert [(i["status"], i["amount"], i["walletTxId"]) for i in page["items"]] == [
        ("SUCCESS", "250.5", "0xabc")
    ]
    assert balances(s, user.uid)[("main", "USDT")]["balance"] == "250.5"
    [entry] = ledger(s, user.uid)
    assert (entry["bizType"], entry["amount"], entry["direction"]) == (
        "DEPOSIT",
        "250.5",
        "in",
    )
    assert json.loads(entry["context"]) == {"orderId": record["id"], "txId": "0xabc"}
    # a final deposit moves no more
    s.cli.run(
        "funding", "advance-deposit", record["id"], "--status", "FAILURE", check=False
    )
    page = schema_ok(
        s, user, "GET", "/api/v1/deposits?status=FAILURE", "/api/v1/deposits"
    )
    assert page["items"] == []
    assert balances(s, user.uid)[("main", "USDT")]["balance"] == "250.5"


def _fund(s: LiveServer, uid: str, currency: str, amount: str) -> None:
    cli_json(
        s,
        "deposit",
        "--uid",
        uid,
        "--currency",
        currency,
        "--amount",
        amount,
        "--status",
        "SUCCESS",
    )


def test_a_withdrawal_holds_then_cancel_releases_and_success_writes_amount_and_fee(
    module_server, user
):
    s = module_server
    _fund(s, user.uid, "USDT", "100")
    quota = schema_ok(
        s,
        user,
        "GET",
        "/api/v1/withdrawals/quotas?currency=USDT",
        "/api/v1/withdrawals/quotas",
    )
    assert (quota["availableAmount"], quota["withdrawMinFee"]) == ("100", "1")
    body = withdrawal_body("40")
    first = schema_ok(
        s, user, "POST", "/api/v3/withdrawals", "/api/v3/withdrawals", body
    )["withdrawalId"]
    main = balances(s, user.uid)[("main", "USDT")]
    assert (main["balance"], main["available"], main["holds"]) == ("100", "59", "41")
    # more than is available: refused, nothing held
    too_much = withdrawal_body("59")
    assert fail_code(s, user, "POST", "/api/v3/withdrawals", too_much) == "200004"
    assert balances(s, user.uid)[("main", "USDT")]["holds"] == "41"
    assert (
        fail_code(
            s,
            user,
            "POST",
            "/api/v3/withdrawals",
            '{"currency":"USDT","amount":"-1","toAddress":"x","withdrawType":"ADDRESS"}',
        )
        == "400100"
    )

    cancelled = schema_ok(
        s,
        user,
        "DELETE",
        f"/api/v1/withdrawals/{first}",
        "/api/v1/withdrawals/{withdrawalId}",
    )
    assert cancelled == first
    main = balances(s, user.uid)[("main", "USDT")]
    assert (main["available"], main["holds"]) == ("100", "0")
    assert fail_code(s, user, "DELETE", f"/api/v1/withdrawals/{first}") == "400100"
    by_id = schema_ok(
        s,
        user,
        "GET",
        f"/api/v1/withdrawals/{first}",
        "/api/v1/withdrawals/{withdrawalId}",
    )
    assert (by_id["status"], by_id["cancelType"]) == ("FAILURE", "NON_CANCELABLE")

    second = schema_ok(
        s, user, "POST", "/api/v3/withdrawals", "/api/v3/withdrawals", body
    )["withdrawalId"]
    cli_json(s, "advance-withdrawal", second, "--status", "WALLET_PROCESSING")
    assert fail_code(s, user, "DELETE", f"/api/v1/withdrawals/{second}") == "400100"
    done = cli_json(
        s, "advance-withdrawal", second, "--status", "SUCCESS", "--tx-id", "0xbeef"
    )
    assert done["final_op_id"] == f"withdrawal-settle:{second}"
    main = balances(s, user.uid)[("main", "USDT")]
    assert (main["balance"], main["available"], main["holds"]) == ("59", "59", "0")
    out = [
        (e["bizType"], e["amount"], e["fee"])
        for e in ledger(s, user.uid)
        if e["direction"] == "out"
    ]
    assert sorted(out) == [("WITHDRAW", "1", "1"), ("WITHDRAW", "40", "0")]
    page = schema_ok(
        s, user, "GET", "/api/v1/withdrawals?currency=USDT", "/api/v1/withdrawals"
    )
    assert [(i["id"], i["status"]) for i in page["items"]] == [
        (second, "SUCCESS"),
        (first, "FAILURE"),
    ]
    s.cli.run("verify")  # exits 1 (and fails the test) on any problem


def test_the_universal_sdk_drives_every_deposit_and_withdrawal_method(
    module_server, user, sdk
):
    s = module_server
    deposit, withdrawal = sdk.get_deposit_api(), sdk.get_withdrawal_api()
    v3 = deposit.add_deposit_address_v3(
        AddDepositAddressV3ReqBuilder().set_currency("ETH").set_chain("eth").build()
    )
    v1 = deposit.add_deposit_address_v1(
        AddDepositAddressV1ReqBuilder().set_currency("BTC").build()
    )
    got3 = deposit.get_deposit_address_v3(
        GetDepositAddressV3ReqBuilder().set_currency("ETH").build()
    )
    got2 = deposit.get_deposit_address_v2(
        GetDepositAddressV2ReqBuilder().set_currency("BTC").build()
    )
    got1 = deposit.get_deposit_address_v1(
        GetDepositAddressV1ReqBuilder().set_currency("BTC").build()
    )
    assert [a.address for a in got3.data] == [v3.address]
    assert [a.address for a in got2.data] == [v1.address] == [got1.address]
    record = cli_json(
        s, "deposit", "--uid", user.uid, "--currency", "ETH", "--amount", "2"
    )
    cli_json(s, "advance-deposit", record["id"], "--status", "SUCCESS")
    history = deposit.get_deposit_history(
        GetDepositHistoryReqBuilder().set_currency("ETH").build()
    )
    assert [(i.amount, i.status.value, i.address) for i in history.items] == [
        ("2", "SUCCESS", v3.address)
    ]
    old = deposit.get_deposit_history_old(
        GetDepositHistoryOldReqBuilder().set_currency("ETH").build()
    )
    assert [i.amount for i in old.items] == ["2"]

    quotas = withdrawal.get_withdrawal_quotas(
        GetWithdrawalQuotasReqBuilder().set_currency("ETH").build()
    )
    assert quotas.available_amount == "2"
    made = withdrawal.withdrawal_v3(
        WithdrawalV3ReqBuilder()
        .set_currency("ETH")
        .set_amount("0.5")
        .set_to_address("0xfeed")
        .set_withdraw_type(WithdrawalV3Req.WithdrawTypeEnum.ADDRESS)
        .build()
    )
    legacy = withdrawal.withdrawal_v1(
        WithdrawalV1ReqBuilder()
        .set_currency("ETH")
        .set_address("0xfeed")
        .set_amount(1)
        .build()
    )
    assert (
        withdrawal.cancel_withdrawal(
            CancelWithdrawalReqBuilder().set_withdrawal_id(legacy.withdrawal_id).build()
        ).data
        == legacy.withdrawal_id
    )
    one = withdrawal.get_withdrawal_history_by_id(
        GetWithdrawalHistoryByIdReqBuilder()
        .set_withdrawal_id(made.withdrawal_id)
        .build()
    )
    assert (one.amount, one.fee, one.status) == ("0.5", "0.002", "PROCESSING")
    history = withdrawal.get_withdrawal_history(
        GetWithdrawalHistoryReqBuilder().set_currency("ETH").build()
    )
    assert [i.id for i in history.items] == [legacy.withdrawal_id, made.withdrawal_id]
    old = withdrawal.get_withdrawal_history_old(
        GetWithdrawalHistoryOldReqBuilder().set_currency("ETH").build()
    )
    assert len(old.items) == 2
    main = balances(s, user.uid)[("main", "ETH")]
    assert Decimal(main["holds"]) == Decimal("0.502")


def test_ccxt_fetches_deposits_withdrawals_and_addresses_and_withdraws(
    module_server, user, kucoin
):
    s = module_server
    kucoin.load_markets()
    made = s.signed(
        user, "POST", "/api/v1/deposit-addresses", '{"currency":"USDT"}'
    ).json()["data"]
    address = kucoin.fetch_deposit_address("USDT")
    assert address["address"] == made["address"]
    record = cli_json(
        s,
        "deposit",
        "--uid",
        user.uid,
        "--currency",
        "USDT",
        "--amount",
        "30",
        "--tx-id",
        "0x1",
    )
    cli_json(s, "advance-deposit", record["id"], "--status", "SUCCESS")
    [fetched] = kucoin.fetch_deposits("USDT")
    assert (fetched["amount"], fetched["status"], fetched["txid"]) == (
        30.0,
        "ok",
        "0x1",
    )
    sent = kucoin.withdraw("USDT", 10, "0xfeedfeedfeedfeed")
    [listed] = kucoin.fetch_withdrawals("USDT")
    assert listed["id"] == sent["id"] and listed["status"] == "pending"
    assert listed["amount"] == 10.0 and listed["fee"]["cost"] == 1.0
    assert balances(s, user.uid)[("main", "USDT")]["holds"] == "11"
