"""kuledger balance (balances at a time), kuledger statement (a user's month)"""

from __future__ import annotations

import csv
import io
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from kuledger.cli.context import container, print_json, reports_errors
from kuledger.cli.times import iso, parse_time
from kuledger.domain.errors import UnknownUser
from kuledger.domain.money import to_wire
from kuledger.services import operator, statements
from kuledger.services.operator import BalanceAt
from kuledger.services.statements import AccountStatement, Month, Statement
from kuledger.storage.operator import SqlOperatorQueries
from kuledger.storage.statements import SqlStatementEntries


def _queries() -> SqlOperatorQueries:
    c = container()
    return SqlOperatorQueries(c.engine, c.reader.connections)


def _checked_user(uid: str) -> None:
    if container().reader.user(uid) is None:
        raise UnknownUser(uid)


@click.command()
@click.option("--uid", help="Only this user (default: every user).")
@click.option(
    "--at",
    help="A time: ISO-8601 (UTC unless it has an offset), YYYY-MM-DD (the end "
    "of that day, UTC) or ms; inclusive. Default: now.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_errors
def balance(uid: str | None, at: str | None, as_json: bool) -> None:
    """Balances at a time: each account's post-balance after its last entry
    at or before --at (one index seek per account)."""
    at_ms = parse_time(at, end_of_day=True, option="--at") if at else None
    queries = _queries()
    if uid is not None:
        _checked_user(uid)
        found = [(uid, operator.balances(queries, uid, at_ms))]
    else:
        found = list(statements.balances_of_everyone(queries, at_ms))
    rows = [_balance_item(u, b) for u, listed in found for b in listed]
    if as_json:
        print_json({"at": at_ms, "accounts": rows})
        return
    title = f"balances at {iso(at_ms)}" if at_ms is not None else "balances now"
    table = Table(
        "uid", "id", "type", "currency", "balance", "seq", "lastEntryAt", title=title
    )
    _fold(table)
    for row in rows:
        table.add_row(
            row["uid"],
            row["id"],
            row["type"],
            row["currency"],
            row["balance"],
            str(row["seq"]),
            iso(row["lastEntryAt"]),
        )
    Console().print(table)


def _balance_item(uid: str, found: BalanceAt) -> dict[str, Any]:
    return {
        "uid": uid,
        "id": found.account.id,
        "type": found.account.key.type.value,
        "currency": found.account.key.currency,
        "balance": to_wire(found.balance),
        "seq": found.seq,
        "lastEntryAt": found.entry_at or None,
    }


@click.command()
@click.option("--uid", required=True)
@click.option("--month", required=True, help="YYYY-MM, a calendar month in UTC.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--csv", "as_csv", is_flag=True, help="Print CSV: opening, movements, closing."
)
@reports_errors
def statement(uid: str, month: str, as_json: bool, as_csv: bool) -> None:
    """A user's month: per account, the opening balance, the movements by
    business type in and out, and the closing balance, reconciled to the
    entries. Exit status 3 (and NOT RECONCILED on stderr) if they disagree."""
    if as_json and as_csv:
        raise click.UsageError("--json and --csv exclude each other")
    period = Month.parse(month)
    _checked_user(uid)
    c = container()
    with c.reader.connections.snapshot() as one_state:
        result = statements.month_statement(
            SqlOperatorQueries(c.engine, one_state),
            SqlStatementEntries(c.engine, one_state),
            uid,
            period,
        )
    if as_json:
        print_json(statement_json(result))
    elif as_csv:
        _write_csv(result)
    else:
        _print_tables(result)
    if not result.reconciled:
        for account in result.accounts:
            for problem in account.problems:
                click.echo(
                    f"NOT RECONCILED: {account.account.key.type.value} "
                    f"{account.account.key.currency} ({account.account.id}): {problem}",
                    err=True,
                )
        sys.exit(3)


def _account_json(a: AccountStatement) -> dict[str, Any]:
    return {
        "id": a.account.id,
        "type": a.account.key.type.value,
        "currency": a.account.key.currency,
        "opening": to_wire(a.opening.balance),
        "openingSeq": a.opening.seq,
        "movements": [
            {
                "bizType": m.biz_code,
                "direction": m.direction.value,
                "amount": to_wire(m.amount),
                "fee": to_wire(m.fee),
                "entries": m.entries,
            }
            for m in sorted(a.movements.values(), key=_movement_order)
        ],
        "totalIn": to_wire(a.total_in),
        "totalOut": to_wire(a.total_out),
        "closing": to_wire(a.closing.balance),
        "closingSeq": a.closing.seq,
        "entries": a.entries,
        "lastPostBalance": (
            to_wire(a.last_balance) if a.last_balance is not None else None
        ),
        "reconciled": a.reconciled,
        "problems": a.problems,
    }


def statement_json(s: Statement) -> dict[str, Any]:
    return {
        "uid": s.uid,
        "month": s.month.name,
        "start": s.month.start,
        "end": s.month.end,
        "reconciled": s.reconciled,
        "accounts": [_account_json(a) for a in s.accounts],
    }


def _movement_order(m: statements.Movement) -> tuple[str, str]:
    return (m.direction.value, m.biz_code)  # in before out


CSV_COLUMNS = (
    "uid",
    "month",
    "accountId",
    "accountType",
    "currency",
    "line",
    "bizType",
    "direction",
    "amount",
    "fee",
    "entries",
)


def _write_csv(s: Statement) -> None:
    """One line per opening, movement and closing of each account; `line` is
    opening, movement or closing, so a spreadsheet can filter."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for a in s.accounts:
        head = [s.uid, s.month.name, a.account.id, a.account.key.type.value]
        head.append(a.account.key.currency)
        writer.writerow([*head, "opening", "", "", to_wire(a.opening.balance), "", ""])
        for m in sorted(a.movements.values(), key=_movement_order):
            writer.writerow(
                [
                    *head,
                    "movement",
                    m.biz_code,
                    m.direction.value,
                    to_wire(m.amount),
                    to_wire(m.fee),
                    m.entries,
                ]
            )
        writer.writerow(
            [*head, "closing", "", "", to_wire(a.closing.balance), "", a.entries]
        )
    click.echo(buffer.getvalue(), nl=False)


def _print_tables(s: Statement) -> None:
    console = Console()
    console.print(
        f"statement of {s.uid} for {s.month.name} (UTC): "
        f"{iso(s.month.start)} .. {iso(s.month.end)}"
    )
    if not s.accounts:
        console.print("no balances and no entries in this month")
    for a in s.accounts:
        key = a.account.key
        table = Table(
            "", "bizType", "direction", "amount", "fee", "entries",
            title=f"{key.type.value} {key.currency} ({a.account.id})",
        )  # fmt: skip
        _fold(table)
        table.add_row("opening", "", "", to_wire(a.opening.balance), "", "")
        for m in sorted(a.movements.values(), key=_movement_order):
            sign = "+" if m.direction.value == "in" else "-"
            table.add_row(
                "",
                m.biz_code,
                m.direction.value,
                f"{sign}{to_wire(m.amount)}",
                to_wire(m.fee),
                str(m.entries),
            )
        table.add_row("closing", "", "", to_wire(a.closing.balance), "", str(a.entries))
        table.caption = "reconciled" if a.reconciled else "NOT RECONCILED"
        console.print(table)


def _fold(table: Table) -> None:
    """Wrap a long amount or id onto more lines, never cut it with an ellipsis."""
    for column in table.columns:
        column.overflow = "fold"
