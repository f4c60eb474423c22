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
from decimal import Decimal

from kuledger.domain.money import to_wire

VERSION = "kuledger-chain-v1"
GENESIS = "0" * 64  # the "previous hash" of an account's first entry

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


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
    return _ENCODER.encode(
        [
            VERSION,
            prev,
            int(id),
            uid,
            account_id,
            account_type,
            currency,
            to_wire(amount),
            to_wire(fee),
            to_wire(balance),
            direction,
            biz_code,
            int(created_at),
            context,
            int(seq),
        ]
    ).encode("utf-8")


def entry_hash(
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
) -> str:
    """SHA-256 (hex) of `canonical(...)`: the entry's link in its account's chain."""
    return hashlib.sha256(
        canonical(
            prev,
            id,
            uid,
            account_id,
            account_type,
            currency,
            amount,
            fee,
            balance,
            direction,
            biz_code,
            created_at,
            context,
            seq,
        )
    ).hexdigest()
