"""Parsing operation payloads: required and unknown fields, formats, fingerprints."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kuledger.domain.accounts import AccountKey, AccountType
from kuledger.domain.currencies import DEFAULT_CURRENCIES
from kuledger.domain.entries import Direction
from kuledger.domain.errors import (
    InvalidAmount,
    InvalidInput,
    UnknownAccountType,
    UnknownBizType,
    UnknownCurrency,
    UnknownOperation,
)
from kuledger.domain.money import Currency, to_wire
from kuledger.domain.operations import (
    OPERATIONS,
    Adjust,
    Deposit,
    Operation,
    SubTransfer,
    Transfer,
    parse_operation,
)

CURRENCIES = {c.code: c for c in DEFAULT_CURRENCIES}

VALID: dict[str, dict[str, Any]] = {
    "deposit": {"currency": "USDT", "amount": "10"},
    "withdrawal": {"currency": "USDT", "amount": "10", "fee": "1"},
    "transfer": {"currency": "USDT", "amount": "10", "from": "main", "to": "trade"},
    "sub_transfer": {
        "currency": "USDT",
        "amount": "10",
        "sub_uid": "s1",
        "direction": "to_sub",
    },
    "trade": {
        "symbol": "BTC-USDT",
        "side": "buy",
        "price": "60000",
        "size": "0.001",
        "order_id": "o1",
        "trade_id": "t1",
    },
    "hold": {"account": "trade", "currency": "USDT", "amount": "10"},
    "release": {"account": "trade", "currency": "USDT", "amount": "10"},
    "adjust": {
        "account": "main",
        "currency": "USDT",
        "amount": "10",
        "direction": "in",
        "biz_type": "KuCoin Bonus",
    },
    "realised_pnl": {
        "currency": "USDT",
        "pnl": "-12.5",
        "fee": "0.5",
        "symbol": "BTCUSDTM",
    },
}


def _payload(op: str, **changes: Any) -> dict[str, Any]:
    payload = {"op": op, "uid": "u1", "id": "op-1", **VALID[op], **changes}
    return {k: v for k, v in payload.items() if v is not None}


def _parse(op: str, **changes: Any) -> Operation:
    return parse_operation(_payload(op, **changes), CURRENCIES)


def test_the_valid_example_of_every_operation_parses():
    assert set(VALID) == set(OPERATIONS)
    for op in VALID:
        operation = _parse(op)
        assert operation.name == op
        assert (operation.uid, operation.id, operation.at) == ("u1", "op-1", None)


@pytest.mark.parametrize("op", sorted(VALID))
def test_an_unknown_field_is_rejected_and_named(op):
    with pytest.raises(InvalidInput) as info:
        _parse(op, memo="hello")
    assert info.value.field == "memo"
    assert "unknown field" in str(info.value)


def test_a_field_of_another_operation_is_unknown():
    with pytest.raises(InvalidInput) as info:
        _parse("deposit", sub_uid="s1")
    assert info.value.field == "sub_uid"


@pytest.mark.parametrize(
    ("op", "field"),
    [
        (op, field)
        for op, fields in VALID.items()
        for field in fields
        if not (op in ("withdrawal", "realised_pnl") and field == "fee")
        and not (op in ("hold", "release", "adjust") and field == "account")
        and not (op == "trade" and field == "side")
    ],
)
def test_a_missing_required_field_is_rejected_and_named(op, field):
    with pytest.raises(InvalidInput) as info:
        _parse(op, **{field: None})
    assert info.value.field == field


@pytest.mark.parametrize("field", ["uid", "id"])
def test_uid_and_id_are_required(field):
    with pytest.raises(InvalidInput) as info:
        _parse("deposit", **{field: None})
    assert info.value.field == field


def test_optional_fields_take_their_defaults():
    deposit = _parse("deposit")
    assert isinstance(deposit, Deposit)
    assert deposit.account is AccountType.MAIN
    assert _parse("withdrawal", fee=None).fee == 0  # type: ignore[attr-defined]
    sub = _parse("sub_transfer")
    assert isinstance(sub, SubTransfer)
    assert (sub.source, sub.target) == (AccountType.MAIN, AccountType.MAIN)


@pytest.mark.parametrize("op", ["", "Deposit", "transfer_out", None, 1, ["deposit"]])
def test_an_unknown_op_is_rejected(op):
    with pytest.raises(UnknownOperation, match="unknown op"):
        parse_operation({"op": op, "uid": "u1", "id": "x"}, CURRENCIES)


@pytest.mark.parametrize("payload", [None, [], "deposit", 5, [("op", "deposit")]])
def test_a_payload_that_is_not_an_object_is_rejected(payload):
    with pytest.raises(InvalidInput, match="JSON object"):
        parse_operation(payload, CURRENCIES)


@pytest.mark.parametrize("at", [True, -1, 1.5, "1790000000000", 10**13])
def test_at_must_be_integer_milliseconds(at):
    with pytest.raises(InvalidInput) as info:
        _parse("deposit", at=at)
    assert info.value.field == "at"


def test_at_is_kept_when_valid():
    assert _parse("deposit", at=0).at == 0
    assert _parse("deposit", at=1_790_000_000_000).at == 1_790_000_000_000


@pytest.mark.parametrize(
    ("field", "value"),
    [("uid", ""), ("uid", 5), ("id", "x" * 129), ("id", ["a"])],
)
def test_uid_and_id_must_be_short_non_empty_strings(field, value):
    with pytest.raises(InvalidInput) as info:
        _parse("deposit", **{field: value})
    assert info.value.field == field


def test_an_unknown_currency_is_rejected_and_case_matters():
    with pytest.raises(UnknownCurrency):
        _parse("deposit", currency="usdt")
    with pytest.raises(UnknownCurrency):
        _parse("deposit", currency="XXX")


def test_an_unknown_account_type_is_rejected():
    with pytest.raises(UnknownAccountType) as info:
        _parse("deposit", account="savings")
    assert info.value.field == "account"


@pytest.mark.parametrize("amount", ["1e5", "-1", "NaN", "Infinity", "1.123456789", 1.5])
def test_a_bad_amount_is_rejected_for_every_money_moving_operation(amount):
    for op in ("deposit", "withdrawal", "transfer", "sub_transfer", "hold", "adjust"):
        with pytest.raises(InvalidAmount):
            _parse(op, amount=amount)


@pytest.mark.parametrize("field", ["price", "size", "fee"])
@pytest.mark.parametrize("value", ["1e5", "-1", "NaN"])
def test_a_bad_trade_number_is_rejected_and_named(field, value):
    with pytest.raises(InvalidAmount) as info:
        _parse("trade", **{field: value})
    assert info.value.field == field


def test_price_allows_eighteen_decimals_and_size_the_base_precision():
    _parse("trade", price="0.000000000000000001", size="1")
    with pytest.raises(InvalidAmount):
        _parse("trade", price="0.0000000000000000001")
    with pytest.raises(InvalidAmount):
        _parse("trade", symbol="XRP-USDT", size="1.1234567")


@pytest.mark.parametrize(
    "symbol", ["BTCUSDT", "BTC-", "-USDT", "BTC-USDT-X", "BTC-BTC", "BTC_USDT", ""]
)
def test_a_symbol_must_be_base_dash_quote(symbol):
    with pytest.raises(InvalidInput) as info:
        _parse("trade", symbol=symbol)
    assert info.value.field == "symbol"


@pytest.mark.parametrize("symbol", ["XXX-USDT", "BTC-XXX", "btc-usdt"])
def test_a_symbol_of_unknown_currencies_is_rejected(symbol):
    with pytest.raises(UnknownCurrency) as info:
        _parse("trade", symbol=symbol)
    assert info.value.field == "symbol"


def test_a_trade_must_come_from_a_trading_account():
    with pytest.raises(InvalidInput, match="cannot trade"):
        _parse("trade", account="main")


def test_side_and_direction_must_be_one_of_their_choices():
    with pytest.raises(InvalidInput):
        _parse("trade", side="BUY")
    with pytest.raises(InvalidInput):
        _parse("sub_transfer", direction="sideways")
    with pytest.raises(InvalidInput):
        _parse("adjust", direction="up")


def test_a_transfer_needs_two_different_accounts():
    with pytest.raises(InvalidInput, match="different"):
        _parse("transfer", to="main")


def test_a_sub_transfer_to_oneself_is_rejected():
    with pytest.raises(InvalidInput) as info:
        _parse("sub_transfer", sub_uid="u1")
    assert info.value.field == "sub_uid"


@pytest.mark.parametrize("op", ["withdrawal", "adjust"])
def test_a_fee_may_not_exceed_the_amount_it_is_part_of(op):
    assert _parse(op, amount="5", fee="5")
    with pytest.raises(InvalidInput) as info:
        _parse(op, amount="5", fee="5.00000001")
    assert info.value.field == "fee"


def test_an_adjustment_takes_any_catalogue_name_and_stores_the_code():
    adjust = _parse("adjust", biz_type="fee rebate")
    assert isinstance(adjust, Adjust)
    assert adjust.biz_type == "FEE_REBATE"
    with pytest.raises(UnknownBizType):
        _parse("adjust", biz_type="Lottery")


def test_a_context_object_is_stored_as_compact_json_and_a_long_string_is_refused():
    deposit = _parse("deposit", context={"txId": "0xab", "note": "ü"})
    assert isinstance(deposit, Deposit)
    assert deposit.context == '{"txId":"0xab","note":"ü"}'
    assert _parse("deposit", context="plain").context == "plain"  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput):
        _parse("deposit", context="x" * 4097)
    with pytest.raises(InvalidInput):
        _parse("deposit", context=["a"])


def test_equal_amounts_written_differently_have_one_fingerprint():
    assert (
        _parse("deposit", amount="5").fingerprint()
        == _parse("deposit", amount="5.000").fingerprint()
        == _parse("deposit", amount=5).fingerprint()
    )


def test_any_other_difference_changes_the_fingerprint():
    base = _parse("deposit").fingerprint()
    assert _parse("deposit", amount="11").fingerprint() != base
    assert _parse("deposit", currency="BTC").fingerprint() != base
    assert _parse("deposit", account="trade").fingerprint() != base
    assert _parse("deposit", at=5).fingerprint() != base
    assert _parse("deposit", context={"a": 1}).fingerprint() != base


def _reference_fingerprint(operation: Operation) -> str:
    """What fingerprints were before they were written by hand (and what the
    ones already stored hold): json.dumps with sorted keys of the fields."""
    body: dict[str, Any] = {"op": operation.name}
    for f in dataclasses.fields(operation):
        value = getattr(operation, f.name)
        if f.name == "at" and value is None:
            continue
        if isinstance(value, Currency):
            value = value.code
        elif isinstance(value, Decimal):
            value = to_wire(value)
        body[f.name] = value
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)


@given(
    op=st.sampled_from(sorted(VALID)),
    uid=st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20),
    context=st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
    at=st.none() | st.integers(min_value=0, max_value=10**13 - 1),
)
def test_the_fingerprint_is_json_with_sorted_keys(op, uid, context, at):
    changes: dict[str, Any] = {"uid": uid, "at": at}
    if op in ("deposit", "withdrawal"):  # (operations with a free-text context)
        changes["context"] = context or None
    operation = _parse(op, **changes)
    assert operation.fingerprint() == _reference_fingerprint(operation)


def test_a_transfer_plans_an_out_leg_then_an_in_leg():
    transfer = _parse("transfer")
    assert isinstance(transfer, Transfer)
    [out, into] = transfer.plan().postings
    assert (out.key, out.direction, out.amount, out.biz.code) == (
        AccountKey("u1", AccountType.MAIN, "USDT"),
        Direction.OUT,
        Decimal(10),
        "TRANSFER",
    )
    assert (into.key, into.direction) == (
        AccountKey("u1", AccountType.TRADE, "USDT"),
        Direction.IN,
    )


def test_a_sub_transfer_to_the_parent_debits_the_sub():
    plan = _parse("sub_transfer", direction="to_parent", to="trade").plan()
    [out, into] = plan.postings
    assert out.key == AccountKey("s1", AccountType.MAIN, "USDT")
    assert into.key == AccountKey("u1", AccountType.TRADE, "USDT")
    assert {p.biz.code for p in plan.postings} == {"SUB_TRANSFER"}
    assert plan.sub_accounts == (("u1", "s1"),)


def test_hold_and_release_plan_hold_changes_and_no_entries():
    hold, release = _parse("hold").plan(), _parse("release").plan()
    assert hold.postings == release.postings == ()
    assert [(h.amount, h.release) for h in hold.holds] == [(Decimal(10), False)]
    assert [(h.amount, h.release) for h in release.holds] == [(Decimal(10), True)]
