"""The `kuledger` command group."""

from __future__ import annotations

import click

from kuledger import __version__
from kuledger.cli import (
    admin,
    export,
    import_,
    maintenance,
    operator,
    ops,
    reports,
    seeding,
    serve,
    settings,
)
from kuledger.cli.context import report_failure


class _Commands(click.Group):
    """The command group: an expected failure of any command (a bad database
    URL, an unreachable server, ...) is one line on stderr, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as exc:  # click's own exceptions are re-raised
            report_failure(exc)
            raise  # not reached: report_failure exits or re-raises


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kuledger")
def cli() -> None:
    """kuledger: an auditable account ledger that speaks KuCoin's REST API.

    The database comes from KULEDGER_DATABASE_URL (default: sqlite:///kuledger.db).
    """


for command in (
    admin.init,
    admin.verify,
    maintenance.retention,
    admin.users,
    admin.keys,
    ops.post,
    ops.deposit,
    ops.withdraw,
    ops.transfer,
    ops.trade,
    reports.accounts,
    reports.ledger,
    seeding.seed,
    settings.config,
    export.export,
    import_.import_,
    serve.serve,
    operator.operator_token,
):
    cli.add_command(command)


def main() -> None:
    cli()
