"""What `kuledger export` writes: JSONL or CSV lines (the tax tools' files:
cli/tax_formats.py), the running summary, and the checkpoint that makes an
interrupted export resumable.

The output grows in FILE.partial, one completed window at a time; after each
window FILE.checkpoint.json records how many windows are done and how many
bytes of FILE.partial they fill. A resumed export cuts FILE.partial back to
that length and goes on with the next window, so it writes the same bytes an
uninterrupted run would have. The last step renames FILE.partial to FILE.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

from kuledger.services.importing import CSV_COLUMNS
from kuledger_client import AnyLedgerEntry, FuturesLedgerEntry, dumps

CHECKPOINT_VERSION = 1
EXACT = Context(prec=200)  # sums of amounts never round
ZERO = Decimal(0)


def net_text(value: Decimal) -> str:
    """A net change as plain digits: no exponent, no trailing zeros."""
    return "0" if value == ZERO else format(value.normalize(EXACT), "f")


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def checkpoint_path(out: Path) -> Path:
    return out.with_name(out.name + ".checkpoint.json")


def csv_header() -> bytes:
    return csv_line(list(CSV_COLUMNS))


def csv_line(cells: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue().encode()


def csv_cells(ledger: str, entry: AnyLedgerEntry) -> list[str]:
    """A row of docs/export.md's columns. Futures items have no account trail:
    amount is unsigned with the sign as direction, balance is accountEquity,
    accountType CONTRACT, bizType the futures `type`, context status + remark."""
    raw = entry.raw
    if isinstance(entry, FuturesLedgerEntry):
        amount = str(raw["amount"])
        return [
            ledger,
            entry.id,
            str(entry.time),
            entry.currency,
            amount.removeprefix("-"),
            str(raw["fee"]),
            str(raw["accountEquity"]),
            "CONTRACT",
            entry.type,
            "out" if amount.startswith("-") else "in",
            json.dumps(
                {"status": entry.status, "remark": entry.remark},
                separators=(",", ":"),
                ensure_ascii=False,
            ),
        ]
    return [
        ledger,
        entry.id,
        str(entry.created_at),
        entry.currency,
        str(raw["amount"]),
        str(raw["fee"]),
        str(raw["balance"]),
        entry.account_type,
        entry.biz_type,
        entry.direction,
        entry.context,
    ]


def encode(fmt: str, ledger: str, entry: AnyLedgerEntry, tag_ledger: bool) -> bytes:
    """One output line: the KuCoin item unchanged (plus "ledger" when several
    ledgers are exported), or a CSV row."""
    if fmt == "csv":
        return csv_line(csv_cells(ledger, entry))
    raw: Any = entry.raw
    if tag_ledger:
        raw = {**raw, "ledger": ledger}
    return (dumps(raw) + "\n").encode()


@dataclass
class Summary:
    """Counts and net change of the exported entries, kept in the checkpoint."""

    entries: int = 0
    by_currency: dict[str, int] = field(default_factory=dict)
    by_biz_type: dict[str, int] = field(default_factory=dict)
    by_ledger: dict[str, int] = field(default_factory=dict)
    net: dict[str, Decimal] = field(default_factory=dict)
    first_at: int | None = None
    last_at: int | None = None
    omitted: int = 0  # internal transfers a tax tool's file leaves out

    def add(self, ledger: str, entry: AnyLedgerEntry) -> None:
        self.entries += 1
        currency = entry.currency
        if isinstance(entry, FuturesLedgerEntry):
            biz, change = entry.type, entry.amount  # signed already
        else:
            biz = entry.biz_type
            change = entry.amount if entry.direction == "in" else -entry.amount
        self.by_currency[currency] = self.by_currency.get(currency, 0) + 1
        self.by_biz_type[biz] = self.by_biz_type.get(biz, 0) + 1
        self.by_ledger[ledger] = self.by_ledger.get(ledger, 0) + 1
        self.net[currency] = EXACT.add(self.net.get(currency, ZERO), change)
        at = entry.created_at
        self.first_at = at if self.first_at is None else min(self.first_at, at)
        self.last_at = at if self.last_at is None else max(self.last_at, at)

    def to_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "byCurrency": self.by_currency,
            "byBizType": self.by_biz_type,
            "byLedger": self.by_ledger,
            "net": {c: net_text(v) for c, v in self.net.items()},
            "firstAt": self.first_at,
            "lastAt": self.last_at,
            "omitted": self.omitted,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        return cls(
            entries=int(data["entries"]),
            by_currency=dict(data["byCurrency"]),
            by_biz_type=dict(data["byBizType"]),
            by_ledger=dict(data["byLedger"]),
            net={c: Decimal(v) for c, v in data["net"].items()},
            first_at=data["firstAt"],
            last_at=data["lastAt"],
            omitted=int(data.get("omitted", 0)),
        )


@dataclass
class ExportProgress:
    """Progress of one export, saved to FILE.checkpoint.json after each window;
    `options` must match for --resume to continue."""

    options: dict[str, Any]
    done: int = 0  # windows (of all ledgers, in order) completely written
    size: int = 0  # bytes of FILE.partial they fill
    skipped: list[str] = field(default_factory=list)  # ledgers the server lacks
    summary: Summary = field(default_factory=Summary)

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves the old checkpoint or the new one."""
        document = {
            "version": CHECKPOINT_VERSION,
            "options": self.options,
            "done": self.done,
            "bytes": self.size,
            "skipped": self.skipped,
            "summary": self.summary.to_json(),
        }
        temporary = path.with_name(path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(document, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: Path) -> ExportProgress | None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if document.get("version") != CHECKPOINT_VERSION:
                return None
            return cls(
                options=dict(document["options"]),
                done=int(document["done"]),
                size=int(document["bytes"]),
                skipped=list(document["skipped"]),
                summary=Summary.from_json(document["summary"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
