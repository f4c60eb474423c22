"""kuledger import: load an export (JSONL or CSV) as a user's history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from kuledger.cli.context import container, print_json, reports_errors
from kuledger.domain.money import to_wire
from kuledger.services.importing import (
    BATCH_SIZE,
    ImportItem,
    import_history,
    read_items,
)
from kuledger.storage import partitions


def _format_of(path: Path, fmt: str) -> str:
    """jsonl or csv: as given, else by extension, else by the first line."""
    if fmt != "auto":
        return fmt
    if path.suffix.lower() == ".csv":
        return "csv"
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    with path.open(encoding="utf-8") as handle:
        first = handle.readline().lstrip()
    return "jsonl" if first.startswith("{") or not first else "csv"


@click.command("import")
@click.option("--uid", required=True, help="The user whose history this becomes.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "csv"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--opening-balances/--no-opening-balances",
    default=True,
    show_default=True,
    help="Open an account whose first entry follows older history with one "
    "entry for the balance before it (else such a file is rejected).",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=BATCH_SIZE, show_default=True
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@reports_errors
def import_(
    uid: str,
    file: Path,
    fmt: str,
    opening_balances: bool,
    batch_size: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Load FILE, written by `kuledger export`, into this database as UID's
    history (created if missing). The whole file is checked first: a line
    that is malformed, names an unknown currency or breaks its account's
    running balance is reported and nothing is written. Importing the same
    file again changes nothing."""
    c = container()
    fmt = _format_of(file, fmt)

    def source() -> Iterator[ImportItem]:
        with file.open(encoding="utf-8", newline="") as handle:
            yield from read_items(handle, fmt)

    with Progress(
        TextColumn("[bold]importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("entries"),
        console=Console(stderr=True),
        disable=quiet,
    ) as progress:
        task = progress.add_task("import", total=None)
        report = import_history(
            c.uow,
            c.reader,
            c.clock,
            uid,
            source,
            opening_balances=opening_balances,
            batch_size=batch_size,
            progress=lambda count: progress.advance(task, count),
            # PostgreSQL: months with no partition of their own would go to DEFAULT
            prepare=lambda first, last: partitions.ensure_month_partitions(
                c.engine, first, last
            ),
            events=c.events,  # Redis, if set: the balance stream
        )
    balances = {
        f"{ref[0].value}:{ref[1]}": to_wire(value)
        for ref, value in sorted(report.accounts.items())
    }
    if as_json:
        print_json(
            {
                "uid": uid,
                "entries": report.entries,
                "openings": report.openings,
                "written": report.written,
                "replayed": report.replayed,
                "userCreated": report.user_created,
                "firstAt": report.first_at,
                "lastAt": report.last_at,
                "rebuiltBalances": list(report.rebuilt),
                "balances": balances,
            }
        )
        return
    click.echo(
        f"imported {report.entries} entries for {uid} from {file}: "
        f"{report.written} operations written, {report.replayed} already there, "
        f"{report.openings} opening balance(s)"
    )
    for name in report.rebuilt:
        click.echo(
            f"  every balance of the {name} ledger in the file was 0 (KuCoin's "
            "classic ledger leaves them so): rebuilt from the amounts, from zero"
        )
    for name, value in balances.items():
        click.echo(f"  {name:<24} {value}")
