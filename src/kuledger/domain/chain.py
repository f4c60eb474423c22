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


def _sha256_of(encode: Callable[P, bytes]) -> Callable[P, str]:
    def digest(*args: P.args, **kwargs: P.kwargs) -> str:
        return hashlib.sha256(encode(*args, **kwargs)).hexdigest()

    return digest


# SHA-256 (hex) of `canonical(...)`, same arguments: an entry's link in its chain.
entry_hash = _sha256_of(canonical)
