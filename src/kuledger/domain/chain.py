"""The per-account hash chain over ledger entries: tamper evidence.

Each entry's `hash` is SHA-256 (lowercase hex) of the canonical encoding of its
fields and the hash of the account's previous entry (GENESIS for seq 1). The
encoding is a JSON array, compact (no spaces), UTF-8, non-ASCII kept as is:

    ["kuledger-chain-v2", prev, id, uid, account_id, account_type, currency,
     amount, fee, balance, direction, biz_code, created_at, context, seq,
     book, operation]

id, created_at and seq are JSON integers; amounts are their canonical decimal
text (`money.to_wire`); account_type is its lowercase value and direction
"in" or "out"; `operation` is the `operation_digest` of the operation record
that wrote the entry. Entries written before migration 0005 are v1: the same
array without book and operation. Both storage engines hash these same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import ParamSpec

from kuledger.domain.money import to_wire

VERSION = "kuledger-chain-v1"
VERSION_2 = "kuledger-chain-v2"
OPERATION_VERSION = "kuledger-operation-v1"
CHECKPOINT_VERSION = "kuledger-checkpoint-v1"
GENESIS = "0" * 64  # the "previous hash" of an account's first entry

P = ParamSpec("P")

# The string escaping JSONEncoder(ensure_ascii=False) applies (its C version).
# canonical() joins the array by hand: the encoder's generic walk over a
# 15-item list was 6% of bulk ingestion. tests/unit/domain/test_chain.py
# checks the bytes against the encoder on arbitrary text.
_json_str = json.encoder.encode_basestring


def _entry_fields(
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
    """The entry's part of the encoding, shared by v1 and v2."""
    return (
        f"{_json_str(prev)},{int(id)},{_json_str(uid)},"
        f"{_json_str(account_id)},{_json_str(account_type)},{_json_str(currency)},"
        f'"{to_wire(amount)}","{to_wire(fee)}","{to_wire(balance)}",'
        f"{_json_str(direction)},{_json_str(biz_code)},{int(created_at)},"
        f"{_json_str(context)},{int(seq)}"
    )


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
    """The bytes a v1 entry's hash is taken over."""
    fields = _entry_fields(
        prev, id, uid, account_id, account_type, currency, amount, fee, balance,
        direction, biz_code, created_at, context, seq,
    )  # fmt: skip
    return f'["{VERSION}",{fields}]'.encode()


def _sha256_of(encode: Callable[P, bytes]) -> Callable[P, str]:
    def digest(*args: P.args, **kwargs: P.kwargs) -> str:
        return hashlib.sha256(encode(*args, **kwargs)).hexdigest()

    return digest


# SHA-256 (hex) of `canonical(...)`, same arguments: an entry's link in its chain.
entry_hash = _sha256_of(canonical)


def canonical_v2(
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
    book: str,
    operation: str,
) -> bytes:
    """The bytes a v2 entry's hash is taken over: v1's fields, then the
    entry's book and the digest of its operation record."""
    fields = _entry_fields(
        prev, id, uid, account_id, account_type, currency, amount, fee, balance,
        direction, biz_code, created_at, context, seq,
    )  # fmt: skip
    return (
        f'["{VERSION_2}",{fields},{_json_str(book)},{_json_str(operation)}]'
    ).encode()


entry_hash_v2 = _sha256_of(canonical_v2)


def canonical_operation(
    uid: str, op_id: str, fingerprint: str, result: str, created_at: int
) -> bytes:
    """The bytes of an operation record (the idempotency record) that its
    entries' hashes bind: its key, request fingerprint, stored result, time."""
    return (
        f'["{OPERATION_VERSION}",{_json_str(uid)},{_json_str(op_id)},'
        f"{_json_str(fingerprint)},{_json_str(result)},{int(created_at)}]"
    ).encode()


operation_digest = _sha256_of(canonical_operation)


def checkpoint_line(
    account_id: str,
    uid: str,
    account_type: str,
    currency: str,
    seq: int,
    head: str,
    balance: Decimal,
) -> bytes:
    """One account's line in a checkpoint root."""
    return (
        f'["{CHECKPOINT_VERSION}",{_json_str(account_id)},{_json_str(uid)},'
        f"{_json_str(account_type)},{_json_str(currency)},{int(seq)},"
        f'{_json_str(head)},"{to_wire(balance)}"]\n'
    ).encode()


def checkpoint_root(lines: Iterable[bytes]) -> str:
    """SHA-256 (hex) over checkpoint lines, which the caller sorts by account
    id: one value that fixes every account's key, seq, head and balance."""
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line)
    return digest.hexdigest()
