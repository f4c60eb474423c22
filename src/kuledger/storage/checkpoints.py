"""verify_checkpoints: where `kuledger verify --since` resumes each account, and
what the next verify compares the accounts with; verify_runs: their root."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.engine import Engine

from kuledger.services.verify import Checkpoint, root_of
from kuledger.storage.dialect import dialect_for

_BATCH = 5_000


def save_checkpoints(engine: Engine, checkpoints: Iterable[Checkpoint], at: int) -> int:
    """Replace the checkpoints with these (a clean verify covers every account)
    and record the run with their root; return how many were stored."""
    d = dialect_for(engine.dialect.name)
    kept = list(checkpoints)
    rows = [
        (c.account_id, c.seq, c.hash, d.money(c.balance), at, c.uid, c.type, c.currency)
        for c in kept
    ]
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM verify_checkpoints")
        for start in range(0, len(rows), _BATCH):
            conn.exec_driver_sql(
                "INSERT INTO verify_checkpoints (account_id, seq, hash, balance, "
                f"verified_at, uid, type, currency) VALUES ({d.placeholders(8)})",
                rows[start : start + _BATCH],
            )
        conn.exec_driver_sql(
            "INSERT INTO verify_runs (verified_at, accounts, root) "
            f"VALUES ({d.placeholders(3)})",
            (at, len(rows), root_of(kept)),
        )
    return len(rows)
