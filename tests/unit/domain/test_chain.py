"""The canonical encoding is exactly the compact JSON array the chain is defined by."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from kuledger.domain.chain import VERSION, canonical
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
