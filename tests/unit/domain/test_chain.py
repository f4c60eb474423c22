"""The canonical encoding is exactly the compact JSON array the chain is defined by."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from kuledger.domain.chain import (
    CHECKPOINT_VERSION,
    OPERATION_VERSION,
    VERSION,
    VERSION_2,
    canonical,
    canonical_operation,
    canonical_v2,
    checkpoint_line,
)
from kuledger.domain.money import to_wire

# Any text the ledger can hold: every code point but lone surrogates (which
# no UTF-8 database column can store), control characters and quotes included.
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
amounts = st.decimals(min_value=0, max_value=10**30, places=30, allow_nan=False)
counts = st.integers(min_value=0, max_value=2**63 - 1)


@given(
    st.tuples(
        text, counts, text, text, text, text, amounts, amounts, amounts,
        text, text, counts, text, counts,
    )
)  # fmt: skip
def test_canonical_is_the_compact_json_array_of_the_fields(fields):
    prev, id_, uid, account, type_, currency, amount, fee, balance, *rest = fields
    direction, biz_code, created_at, context, seq = rest
    expected = json.dumps(
        [
            VERSION, prev, id_, uid, account, type_, currency,
            to_wire(amount), to_wire(fee), to_wire(balance),
            direction, biz_code, created_at, context, seq,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")  # fmt: skip
    assert canonical(*fields) == expected


def _compact(items: list[object]) -> bytes:
    return json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode()


@given(
    st.tuples(
        text, counts, text, text, text, text, amounts, amounts, amounts,
        text, text, counts, text, counts, text, text,
    )
)  # fmt: skip
def test_canonical_v2_adds_the_book_and_the_operation_digest(fields):
    prev, id_, uid, account, type_, currency, amount, fee, balance, *rest = fields
    direction, biz_code, created_at, context, seq, book, operation = rest
    assert canonical_v2(*fields) == _compact(
        [
            VERSION_2, prev, id_, uid, account, type_, currency,
            to_wire(amount), to_wire(fee), to_wire(balance),
            direction, biz_code, created_at, context, seq, book, operation,
        ]
    )  # fmt: skip


@given(text, text, text, text, counts)
def test_an_operation_record_is_the_compact_json_array_of_its_fields(
    uid, op_id, fingerprint, result, created_at
):
    assert canonical_operation(uid, op_id, fingerprint, result, created_at) == (
        _compact([OPERATION_VERSION, uid, op_id, fingerprint, result, created_at])
    )


@given(st.tuples(text, text, text, text, counts, text, amounts))
def test_a_checkpoint_line_is_a_json_array_and_a_newline(fields):
    account, uid, type_, currency, seq, head, balance = fields
    line = [CHECKPOINT_VERSION, account, uid, type_, currency, seq, head]
    expected = _compact([*line, to_wire(balance)]) + b"\n"
    assert checkpoint_line(*fields) == expected
