"""kuledger config: the settings a command runs with, and where each comes from."""

from __future__ import annotations

import click

from kuledger.cli.context import print_json, reports_errors
from kuledger.config import show_from_environment

EMPTY = "(empty)"  # how the table shows an empty value


@click.command("config")
@click.option(
    "--show", "show", is_flag=True, help="Print every setting, its value and source."
)
@click.option(
    "--json", "as_json", is_flag=True, help="With --show, print one JSON object."
)
@reports_errors
def config(show: bool, as_json: bool) -> None:
    """Show the settings read from the environment, secrets masked.

    Each setting's source is `default` or the environment variable that set it.
    Secret keys show as ***, and so do passwords inside URLs.
    """
    if not show:
        raise click.UsageError("nothing to do: pass --show")
    shown = show_from_environment()
    if as_json:
        print_json(
            {
                s.setting.name: {
                    "env": s.setting.env,
                    "value": s.value,
                    "source": s.source,
                }
                for s in shown
            }
        )
        return
    rows = [("setting", "value", "source")]
    rows += [(s.setting.name, s.text or EMPTY, s.source) for s in shown]
    name_width = max(len(row[0]) for row in rows)
    value_width = max(len(row[1]) for row in rows)
    for name, value, source in rows:
        click.echo(f"{name:<{name_width}}  {value:<{value_width}}  {source}")
