"""verify_checkpoints: where `kuledger verify --since` resumes each account."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.engine import Engine

from kuledger.services.verify import Checkpoint
from kuledger.storage.dialect import dialect_for

_BATCH = 5_000


def save_checkpoints(engine: Engine, checkpoints: Iterable[Checkpoint], at: int) -> int:
    """Store (insert or replace) each account's checkpoint; return how many."""
    d = dialect_for(engine.dialect.name)
    rows = [(c.account_id, c.seq, c.hash, d.money(c.balance), at) for c in checkpoints]
    with engine.begin() as conn:
        for start in range(0, len(rows), _BATCH):
            conn.exec_driver_sql(
                "INSERT INTO verify_checkpoints "
                "(account_id, seq, hash, balance, verified_at) "
                f"VALUES ({d.placeholders(5)}) ON CONFLICT (account_id) DO UPDATE "
                "SET seq = excluded.seq, hash = excluded.hash, "
                "balance = excluded.balance, verified_at = excluded.verified_at",
                rows[start : start + _BATCH],
            )
    return len(rows)
