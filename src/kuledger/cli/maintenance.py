"""kuledger retention"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from kuledger.cli.context import container, print_json, reports_errors
from kuledger.services.retention import RetentionReport, apply_retention, survey
from kuledger.storage.retention import SqlRetentionStore


@click.command()
@click.option(
    "--apply", "apply_", is_flag=True, help="Delete; without it, only report."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@reports_errors
def retention(apply_: bool, as_json: bool) -> None:
    """Report, or with --apply delete, history older than KULEDGER_RETENTION_DAYS.

    Deletes entries and idempotency records older than the horizon (now minus
    the retention days): on PostgreSQL whole monthly partitions are dropped, and
    the rest is deleted in batches of 10,000 rows per transaction, so the server
    can keep serving. Balances do not change, and `kuledger verify` still passes.
    """
    c = container()
    store = SqlRetentionStore(c.engine)
    days = c.settings.retention_days
    report = (
        apply_retention(store, c.clock(), days)
        if apply_
        else survey(store, c.clock(), days)
    )
    if as_json:
        print_json(_as_dict(report))
        return
    expired = report.expired
    click.echo(f"retention {days} days: horizon {_when(report.horizon)}")
    oldest = (
        f" (oldest {_when(expired.oldest_entry_at)})" if expired.oldest_entry_at else ""
    )
    click.echo(
        f"beyond it: {expired.entries} entries of {expired.accounts} accounts"
        f"{oldest}, {expired.operations} operation records"
    )
    if expired.partitions:
        names = ", ".join(name for name, _ in expired.partitions)
        click.echo(f"monthly partitions wholly beyond it: {names}")
    removed = report.removed
    if removed is None:
        click.echo("dry run: nothing deleted (use --apply to delete)")
        return
    dropped = (
        f" ({len(removed.partitions)} partitions dropped)" if removed.partitions else ""
    )
    click.echo(
        f"deleted {removed.entries} entries{dropped} and "
        f"{removed.operations} operation records"
    )


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_dict(report: RetentionReport) -> dict[str, Any]:
    expired, removed = report.expired, report.removed
    return {
        "retention_days": report.retention_days,
        "horizon": report.horizon,
        "applied": removed is not None,
        "expired": {
            "entries": expired.entries,
            "accounts": expired.accounts,
            "operations": expired.operations,
            "oldest_entry_at": expired.oldest_entry_at,
            "partitions": [name for name, _ in expired.partitions],
        },
        "removed": None
        if removed is None
        else {
            "entries": removed.entries,
            "operations": removed.operations,
            "partitions": list(removed.partitions),
        },
    }
