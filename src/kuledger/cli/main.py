"""The `kuledger` command group."""

from __future__ import annotations

import importlib

import click

from kuledger import __version__

# name -> "module:attribute". A command's module is imported when the command
# runs (or help lists it), so `kuledger ledger` does not start up the HTTP
# server's imports, nor `kuledger export` the database's.
COMMANDS = {
    "init": "admin:init",
    "verify": "admin:verify",
    "retention": "maintenance:retention",
    "users": "admin:users",
    "keys": "admin:keys",
    "post": "ops:post",
    "deposit": "ops:deposit",
    "withdraw": "ops:withdraw",
    "transfer": "ops:transfer",
    "trade": "ops:trade",
    "accounts": "reports:accounts",
    "ledger": "reports:ledger",
    "balance": "statements:balance",
    "statement": "statements:statement",
    "seed": "seeding:seed",
    "config": "settings:config",
    "export": "export:export",
    "import": "import_:import_",
    "serve": "serve:serve",
    "operator-token": "operator:operator_token",
    "funding": "funding:funding_group",
}


class _Commands(click.Group):
    """The command group: commands loaded on first use (COMMANDS), and an
    expected failure of any of them (a bad database URL, an unreachable
    server, ...) is one line on stderr, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(f"kuledger.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as exc:  # click's own exceptions are re-raised
            from kuledger.cli.context import report_failure

            report_failure(exc)
            raise  # not reached: report_failure exits or re-raises


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kuledger")
def cli() -> None:
    """kuledger: an auditable account ledger that speaks KuCoin's REST API.

    The database comes from KULEDGER_DATABASE_URL (default: sqlite:///kuledger.db).
    """


def main() -> None:
    cli()
