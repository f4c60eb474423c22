"""The per-account hash chain over ledger entries: tamper evidence.

Each entry's `hash` is SHA-256 (lowercase hex) of the canonical encoding of its
fields and the hash of the account's previous entry (GENESIS for seq 1). The
encoding is a JSON array, compact (no spaces), UTF-8, non-ASCII kept as is:

    ["kuledger-chain-v1", prev, id, uid, account_id, account_type, currency,
     amount, fee, balance, direction, biz_code, created_at, context, seq]

id, created_at and seq are JSON integers; amounts are their canonical decimal
text (`money.to_wire`); account_type is its lowercase value and direction
"in" or "out". Both storage engines hash these same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from typing import ParamSpec

from kuledger.domain.money import to_wire

VERSION = "kuledger-chain-v1"
GENESIS = "0" * 64  # the "previous hash" of an account's first entry

P = ParamSpec("P")

# The string escaping JSONEncoder(ensure_ascii=False) applies (its C version).
# canonical() joins the array by hand: the encoder's generic walk over a
# 15-item list was 6% of bulk ingestion. tests/unit/domain/test_chain.py
# checks the bytes against the encoder on arbitrary text.
_json_str = json.encoder.encode_basestring


def canonical(
    prev: str,
    id: int,
    uid: str,
    account_id: str,
    account_type: str,
    currency: str,
    amount: Decimal,
    fee: Decimal,
    balance: Decimal,
    direction: str,
    biz_code: str,
    created_at: int,
    context: str,
    seq: int,
) -> bytes:
    """The bytes an entry's hash is taken over."""
    return (
        f'["{VERSION}",{_json_str(prev)},{int(id)},{_json_str(uid)},'
        f"{_json_str(account_id)},{_json_str(account_type)},{_json_str(currency)},"
        f'"{to_wire(amount)}","{to_wire(fee)}","{to_wire(balance)}",'
        f"{_json_str(direction)},{_json_str(biz_code)},{int(created_at)},"
        f"{_json_str(context)},{int(seq)}]"
    ).encode()


def _sha256_of(encode: Callable[P, bytes]) -> Callable[P, str]:
    def digest(*args: P.args, **kwargs: P.kwargs) -> str:
        return hashlib.sha256(encode(*args, **kwargs)).hexdigest()

    return digest


# SHA-256 (hex) of `canonical(...)`, same arguments: an entry's link in its chain.
entry_hash = _sha256_of(canonical)
