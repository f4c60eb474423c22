"""kuledger funding deposit | advance-deposit | advance-withdrawal"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from kuledger.cli.context import container, print_json, reports_errors
from kuledger.domain.accounts import AccountType
from kuledger.domain.funding import DEPOSIT_STATUSES, WITHDRAWAL_STATUSES
from kuledger.domain.money import to_wire
from kuledger.services import funding
from kuledger.services.funding import Funding, NewDeposit


def _funding() -> Funding:
    c = container()
    return Funding(c.uow, c.clock, c.events)  # Redis, if set: the balance stream


def _show(record: Any) -> None:
    row = asdict(record)
    for name in ("amount", "fee"):
        row[name] = to_wire(row[name])
    if "to" in row:
        row["to"] = row["to"].value
    print_json(row)


@click.group("funding")
def funding_group() -> None:
    """Create deposits and move deposits and withdrawals through their
    statuses; each move that changes a balance is one ledger operation."""


@funding_group.command("deposit")
@click.option("--uid", required=True)
@click.option("--currency", required=True)
@click.option("--amount", required=True)
@click.option("--chain", default=None, help="chainId (default: the currency's)")
@click.option("--to", "to", type=click.Choice(["main", "trade"]), default="main")
@click.option("--tx-id", default="", help="the wallet's transaction id")
@click.option("--status", type=click.Choice(DEPOSIT_STATUSES), default="PROCESSING")
@click.option("--id", "record_id", default=None, help="idempotency key / deposit id")
@reports_errors
def deposit(
    uid: str,
    currency: str,
    amount: str,
    chain: str | None,
    to: str,
    tx_id: str,
    status: str,
    record_id: str | None,
) -> None:
    """Record a deposit; its entry is written when it is SUCCESS."""
    new = NewDeposit(
        uid,
        currency,
        amount,
        chain=chain,
        to=AccountType(to),
        wallet_tx_id=tx_id,
        status=status,
        id=record_id,
    )
    _show(funding.create_deposit(_funding(), new))


@funding_group.command("advance-deposit")
@click.argument("record_id")
@click.option("--status", type=click.Choice(["SUCCESS", "FAILURE"]), required=True)
@click.option("--tx-id", default=None)
@reports_errors
def advance_deposit(record_id: str, status: str, tx_id: str | None) -> None:
    """Move a PROCESSING deposit to SUCCESS or FAILURE."""
    _show(funding.advance_deposit(_funding(), record_id, status, tx_id))


@funding_group.command("advance-withdrawal")
@click.argument("record_id")
@click.option("--status", type=click.Choice(WITHDRAWAL_STATUSES), required=True)
@click.option("--tx-id", default=None)
@click.option("--reason", default="", help="why it failed (with FAILURE)")
@reports_errors
def advance_withdrawal(
    record_id: str, status: str, tx_id: str | None, reason: str
) -> None:
    """Move a withdrawal on: SUCCESS writes its entries, FAILURE releases it."""
    done = funding.advance_withdrawal(
        _funding(), record_id, status, wallet_tx_id=tx_id, reason=reason
    )
    _show(done)
