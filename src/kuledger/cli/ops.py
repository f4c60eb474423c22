"""kuledger post | deposit | withdraw | transfer | trade"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import IO, Any

import click

from kuledger.cli.context import container, fail, print_json, reports_errors
from kuledger.domain.errors import LedgerError
from kuledger.services import ledger
from kuledger.services.group_commit import apply_each
from kuledger.services.ledger import BatchError, OperationResult
from kuledger.services.ports import EventSink


def _result_line(line: int, result: OperationResult) -> dict[str, Any]:
    return {
        "line": line,
        "ok": True,
        "op": result.op,
        "uid": result.uid,
        "id": result.id,
        "entries": [str(i) for i in result.entry_ids],
        "createdAt": result.created_at,
        "replayed": result.replayed,
    }


def _read_lines(stream: IO[str]) -> Iterator[tuple[int, object | None, str | None]]:
    """Yield (line number, payload, error) for every non-blank line."""
    for number, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            yield number, json.loads(text), None
        except json.JSONDecodeError as exc:
            yield number, None, f"malformed JSON: {exc.msg} at column {exc.colno}"


@click.command()
@click.option(
    "--file",
    "source",
    type=click.File("r"),
    default="-",
    show_default=True,
    help="JSON lines of operations; - for standard input.",
)
@click.option("--atomic", is_flag=True, help="Apply the whole file as one transaction.")
@reports_errors
def post(source: IO[str], atomic: bool) -> None:
    """Apply operations given as JSON lines, e.g.

    {"op":"deposit","uid":"u1","id":"d1","currency":"USDT","amount":"100"}

    Each line is applied or refused on its own (a refused line writes nothing)
    and prints one result line; the exit status is 1 if any line failed.
    Lines are written 2,000 to a transaction (the bulk path). See
    docs/operations.md for every field.
    """
    c = container()
    lines = list(_read_lines(source))
    if atomic:
        _post_atomic(c.uow, c.clock, lines, c.events)
        return
    failed = False
    for start in range(0, len(lines), POST_CHUNK):
        chunk = lines[start : start + POST_CHUNK]
        for number, outcome in _post_chunk(c.uow, c.clock, chunk, c.events):
            if isinstance(outcome, OperationResult):
                print_json(_result_line(number, outcome))
                continue
            failed = True
            print_json({"line": number, "ok": False, "error": outcome})
    if failed:
        raise SystemExit(1)


POST_CHUNK = 2_000  # lines per transaction; as the bulk path's batches


def _post_chunk(
    uow: Any,
    clock: Any,
    chunk: list[tuple[int, object | None, str | None]],
    events: EventSink | None,
) -> Iterator[tuple[int, OperationResult | str]]:
    """Each line's result or error, as if each line were its own transaction:
    the lines are applied in one (group commit's apply_each), where a refused
    line writes nothing and the ones after it do not see it."""
    good = [(number, payload) for number, payload, error in chunk if error is None]
    try:
        outcomes = dict(
            zip(
                (number for number, _ in good),
                apply_each(uow, [payload for _, payload in good], clock, events),
                strict=True,
            )
        )
    except LedgerError:
        # Not one line's refusal (an id another process took since we looked):
        # nothing was written; apply the lines one at a time.
        outcomes = {}
        for number, payload in good:
            try:
                outcomes[number] = ledger.apply(uow, payload, clock, events)
            except LedgerError as exc:
                outcomes[number] = exc
    for number, _, error in chunk:
        if error is not None:
            yield number, error
            continue
        outcome = outcomes[number]
        yield number, outcome if isinstance(outcome, OperationResult) else str(outcome)


def _post_atomic(
    uow: Any,
    clock: Any,
    lines: list[tuple[int, object | None, str | None]],
    events: EventSink | None,
) -> None:
    for number, _, error in lines:
        if error is not None:
            print_json({"line": number, "ok": False, "error": error})
            fail(f"line {number}: {error}; nothing was applied")
    try:
        payloads = [payload for _, payload, _ in lines]
        results = ledger.apply_batch(uow, payloads, clock, events)
    except BatchError as exc:
        number = lines[exc.index][0]
        print_json({"line": number, "ok": False, "error": str(exc.cause)})
        fail(f"line {number}: {exc.cause}; nothing was applied")
    for (number, _, _), result in zip(lines, results, strict=True):
        print_json(_result_line(number, result))


def _apply_one(
    op: str, uid: str, op_id: str | None, at: int | None, **fields: Any
) -> None:
    """Apply one operation `op` of the convenience commands, and print it."""
    c = container()
    payload = {"op": op, "uid": uid, "id": op_id or str(uuid.uuid4()), "at": at}
    clean = {k: v for k, v in {**payload, **fields}.items() if v is not None}
    if isinstance(clean.get("context"), str):
        try:
            clean["context"] = json.loads(clean["context"])
        except json.JSONDecodeError:
            fail("--context must be a JSON object")
    print_json(_result_line(1, ledger.apply(c.uow, clean, c.clock, c.events)))


_common = [
    click.option("--uid", required=True),
    click.option("--id", "op_id", help="Idempotency key (default: a random UUID)."),
    click.option("--at", type=int, help="Entry time in ms (default: now)."),
]


def _with_common(func: Any) -> Any:
    for option in reversed(_common):
        func = option(func)
    return func


@click.command()
@_with_common
@click.option("--currency", required=True)
@click.option("--amount", required=True)
@click.option("--account", default="main", show_default=True)
@click.option("--context", help='JSON object, e.g. {"txId":"0x.."}')
@reports_errors
def deposit(uid: str, op_id: str | None, at: int | None, **fields: Any) -> None:
    """Credit a deposit (DEPOSIT, in)."""
    _apply_one("deposit", uid, op_id, at, **fields)


@click.command()
@_with_common
@click.option("--currency", required=True)
@click.option(
    "--amount", required=True, help="Total leaving the account, fee included."
)
@click.option("--fee", default="0", show_default=True)
@click.option("--account", default="main", show_default=True)
@click.option("--context", help="JSON object")
@reports_errors
def withdraw(uid: str, op_id: str | None, at: int | None, **fields: Any) -> None:
    """Debit a withdrawal (WITHDRAW, out)."""
    _apply_one("withdrawal", uid, op_id, at, **fields)


@click.command()
@_with_common
@click.option("--currency", required=True)
@click.option("--amount", required=True)
@click.option("--from", "source", required=True, help="Account type, e.g. main.")
@click.option("--to", "target", required=True, help="Account type, e.g. trade.")
@reports_errors
def transfer(
    uid: str,
    op_id: str | None,
    at: int | None,
    source: str,
    target: str,
    currency: str,
    amount: str,
) -> None:
    """Move funds between two accounts of one user (TRANSFER)."""
    fields = {"currency": currency, "amount": amount, "from": source, "to": target}
    _apply_one("transfer", uid, op_id, at, **fields)


@click.command()
@_with_common
@click.option("--symbol", required=True, help="BASE-QUOTE, e.g. BTC-USDT.")
@click.option("--side", type=click.Choice(["buy", "sell"]), required=True)
@click.option("--price", required=True)
@click.option("--size", required=True)
@click.option("--fee", default="0", show_default=True)
@click.option("--fee-currency", help="Default: the quote currency.")
@click.option("--order-id", required=True)
@click.option("--trade-id", required=True)
@click.option("--account", default="trade", show_default=True)
@reports_errors
def trade(uid: str, op_id: str | None, at: int | None, **fields: Any) -> None:
    """Record a fill (TRADE_EXCHANGE or MARGIN_EXCHANGE legs)."""
    _apply_one("trade", uid, op_id, at, **fields)
