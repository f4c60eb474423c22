"""kuledger accounts | ledger"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from kuledger.cli.context import container, print_json, reports_errors
from kuledger.domain.errors import UnknownUser
from kuledger.http.wire import account_item, entry_row, spot_ledger_item


@click.command()
@click.option("--uid", required=True)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON array of {id,type,currency,balance,available,holds}.",
)
@reports_errors
def accounts(uid: str, as_json: bool) -> None:
    """Show a user's accounts and balances."""
    reader = container().reader
    if reader.user(uid) is None:
        raise UnknownUser(uid)
    items = [account_item(a) for a in reader.accounts(uid)]
    if as_json:
        print_json(
            [
                {
                    k: item[k]
                    for k in ("id", "type", "currency", "balance", "available", "holds")
                }
                for item in items
            ]
        )
        return
    table = Table(
        "id",
        "type",
        "currency",
        "balance",
        "available",
        "holds",
        title=f"accounts of {uid}",
    )
    for item in items:
        table.add_row(
            item["id"],
            item["type"],
            item["currency"],
            item["balance"],
            item["available"],
            item["holds"],
        )
    Console().print(table)


@click.command()
@click.option("--uid", required=True)
@click.option("--currency")
@click.option("--since", type=int, help="Earliest createdAt, in ms (inclusive).")
@click.option("--until", type=int, help="Latest createdAt, in ms (inclusive).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many entries.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON array of KuCoin ledger items."
)
@reports_errors
def ledger(
    uid: str,
    currency: str | None,
    since: int | None,
    until: int | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Show a user's ledger entries, newest first (all of them unless --limit)."""
    reader = container().reader
    if reader.user(uid) is None:
        raise UnknownUser(uid)
    entries = reader.entries(uid, currency, since, until, limit)
    if as_json:
        click.echo("[", nl=False)
        for index, entry in enumerate(entries):
            click.echo(("," if index else ""), nl=False)
            print_json_inline(spot_ledger_item(entry_row(entry)))
        click.echo("]")
        return
    table = Table(
        "id",
        "createdAt",
        "account",
        "currency",
        "direction",
        "amount",
        "fee",
        "balance",
        "bizType",
        title=f"ledger of {uid}",
    )
    for entry in entries:
        item = spot_ledger_item(entry_row(entry))
        table.add_row(
            item["id"],
            str(item["createdAt"]),
            item["accountType"],
            item["currency"],
            item["direction"],
            item["amount"],
            item["fee"],
            item["balance"],
            item["bizType"],
        )
    Console().print(table)


def print_json_inline(value: object) -> None:
    import json

    click.echo(json.dumps(value, separators=(",", ":"), ensure_ascii=False), nl=False)
