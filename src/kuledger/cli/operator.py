"""kuledger operator-token create | list | revoke"""

from __future__ import annotations

import click

from kuledger.cli.context import container, print_json, reports_errors
from kuledger.services import operator_tokens
from kuledger.services.operator_tokens import Scope


@click.group("operator-token")
def operator_token() -> None:
    """Issue, list and revoke the operator API's tokens (operator-api.md)."""


@operator_token.command("create")
@click.option("--name", required=True, help="Who holds it; the audit log says so.")
@click.option(
    "--scope",
    "scopes",
    required=True,
    help="Comma-separated: post (apply operations), read, admin (users, keys).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the token as JSON.")
@reports_errors
def create(name: str, scopes: str, as_json: bool) -> None:
    """Create a token and print it, this once only (only its SHA-256 is
    stored)."""
    c = container()
    token, text = operator_tokens.create_token(
        c.operator_tokens, c.clock, name=name, scopes=Scope.parse_list(scopes)
    )
    if as_json:
        print_json({"name": token.name, "scopes": sorted(token.scopes), "token": text})
    else:
        click.echo(text)
        click.echo(
            f"operator token {token.name!r} ({','.join(sorted(token.scopes))}): "
            "store it now, it is not shown again",
            err=True,
        )


@operator_token.command("list")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def list_(as_json: bool) -> None:
    """List the tokens (names and scopes; never the tokens)."""
    tokens = container().operator_tokens.all()
    if as_json:
        print_json(
            [
                {
                    "name": t.name,
                    "scopes": sorted(t.scopes),
                    "createdAt": t.created_at,
                    "revokedAt": t.revoked_at,
                }
                for t in tokens
            ]
        )
        return
    for t in tokens:
        state = "revoked" if t.revoked_at is not None else "active"
        click.echo(f"{t.name}  {','.join(sorted(t.scopes))}  {state}")


@operator_token.command("revoke")
@click.argument("name")
@reports_errors
def revoke(name: str) -> None:
    """Revoke a token: its next call is refused (400003)."""
    c = container()
    operator_tokens.revoke_token(c.operator_tokens, c.clock, name)
    click.echo(f"revoked {name}")
