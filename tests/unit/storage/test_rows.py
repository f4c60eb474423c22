"""The named rows are read from the columns of the same names."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kuledger.services.ports import ContractRow, LedgerRow, StoredOperation, TrailRow
from kuledger.storage import schema
from kuledger.storage.dialect import POSTGRES, SQLITE
from kuledger.storage.reader import (
    TRAIL_ENTRY_FIELDS,
    contract_row,
    ledger_row,
    select_list,
    trail_row,
)


@pytest.mark.parametrize(
    "fields", [LedgerRow._fields, ContractRow._fields, TRAIL_ENTRY_FIELDS]
)
def test_every_field_is_a_column_of_entries(fields):
    assert set(fields) <= set(schema.entries.c.keys())
    assert TrailRow._fields == (*TRAIL_ENTRY_FIELDS, "operation")


def test_the_select_list_is_the_fields_in_order_money_as_text():
    assert select_list(SQLITE, ContractRow._fields) == (
        "id, currency, amount, fee, balance, biz_code, direction, created_at, context"
    )
    assert select_list(POSTGRES, LedgerRow._fields, "e") == (
        "e.id, e.currency, e.amount::text, e.fee::text, e.balance::text, "
        "e.account_type, e.biz_code, e.direction, e.created_at, e.context"
    )


def test_ledger_and_contract_rows_name_their_columns():
    row = ledger_row((7, "USDT", "1.5", "0", "10", "main", "DEPOSIT", "in", 99, "{}"))
    assert row._asdict() == {
        "id": 7,
        "currency": "USDT",
        "amount": "1.5",
        "fee": "0",
        "balance": "10",
        "account_type": "main",
        "biz_code": "DEPOSIT",
        "direction": "in",
        "created_at": 99,
        "context": "{}",
    }
    futures = contract_row((8, "USDT", "2", "0.1", "3", "DEPOSIT", "out", 5, ""))
    assert (futures.id, futures.fee, futures.biz_code) == (8, "0.1", "DEPOSIT")
    with pytest.raises(TypeError):  # a column too many or too few
        ledger_row((7, "USDT"))


def test_a_trail_row_reads_money_as_decimal():
    columns = {
        "account_id": "a1",
        "seq": 3,
        "amount": "1.50",
        "direction": "in",
        "balance": "4.5",
        "id": 11,
        "uid": "u1",
        "account_type": "main",
        "currency": "USDT",
        "fee": "0",
        "biz_code": "DEPOSIT",
        "created_at": 1000,
        "context": "{}",
        "hash": "h" * 64,
        "book": "spot",
        "op_uid": "u1",
        "op_id": "d1",
    }
    record = ("{}", '{"uid":"u1"}', 1000)  # the operation's fingerprint, result...
    row = trail_row((*(columns[f] for f in TRAIL_ENTRY_FIELDS), *record))
    assert row._asdict() == columns | {
        "amount": Decimal("1.50"),
        "balance": Decimal("4.5"),
        "fee": Decimal(0),
        "operation": StoredOperation("u1", "d1", *record),
    }
    assert isinstance(row.fee, Decimal)
    alone = trail_row((*(columns[f] for f in TRAIL_ENTRY_FIELDS), None, None, None))
    assert alone.operation is None  # the record it names does not exist
