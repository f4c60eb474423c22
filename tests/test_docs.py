"""The docs cover what the code declares: every setting, operation and field,
business type, currency, account type, CLI command (with its options) and
module under src/.

Everything is collected from the code at run time, so a new setting, field or
command fails here until docs/ describes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from kuledger.cli.main import cli
from kuledger.config import SETTINGS, Setting
from kuledger.domain.accounts import AccountType, book_of
from kuledger.domain.biztypes import CATALOGUE, BizType
from kuledger.domain.currencies import DEFAULT_CURRENCIES
from kuledger.domain.money import Currency
from kuledger.domain.operations import OPERATIONS, Operation, parse_operation

DOCS = Path(__file__).resolve().parent.parent / "docs"
SRC = DOCS.parent / "src"
COMMON_FIELDS = ("op", "uid", "id", "at")  # operations._COMMON
NONE = "—"  # how a table shows a missing filter

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _headings(text: str) -> Iterator[tuple[int, int, str]]:
    """(line index, level, title) of every heading outside code fences."""
    fenced = False
    for index, line in enumerate(text.splitlines()):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := _HEADING.match(line)):
            yield index, len(match.group(1)), match.group(2)


def _section(text: str, title: str) -> str:
    """The body under the heading `title`, up to the next heading of its level
    or higher; fails the test if there is no such heading."""
    lines = text.splitlines()
    headings = list(_headings(text))
    for position, (index, level, found) in enumerate(headings):
        if found == title:
            end = next(
                (i for i, lvl, _ in headings[position + 1 :] if lvl <= level),
                len(lines),
            )
            return "\n".join(lines[index + 1 : end])
    pytest.fail(f"no heading {title!r}")


def _rows(text: str) -> dict[str, list[str]]:
    """Markdown table rows keyed by their first cell, backticks stripped."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def _commands() -> Iterator[tuple[str, click.Command]]:
    """Every command and subcommand of the CLI, as ("kuledger users create", ...)."""

    def walk(group: click.Group, path: str) -> Iterator[tuple[str, click.Command]]:
        ctx = click.Context(group, info_name=path)
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None
            yield f"{path} {name}", command
            if isinstance(command, click.Group):
                yield from walk(command, f"{path} {name}")

    assert isinstance(cli, click.Group)
    return walk(cli, "kuledger")


def _allowed_fields(name: str) -> frozenset[str]:
    operation = getattr(OPERATIONS[name], "__self__", None)  # Deposit.parse -> Deposit
    assert isinstance(operation, type) and issubclass(operation, Operation), (
        f"OPERATIONS[{name!r}] is not an Operation's parse classmethod"
    )
    return operation.allowed


CURRENCIES: dict[str, Currency] = {c.code: c for c in DEFAULT_CURRENCIES}


def _setting_row(setting: Setting) -> str:
    """The row docs/config.md must have for `setting`: all of it is declared."""
    default = f"`{setting.default}`" if setting.default else "empty"
    return f"| `{setting.env}` | {default} | {setting.kind} | {setting.help} |"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.env)
def test_every_setting_has_its_declared_row_in_config_md(setting: Setting):
    rows = _section(_read("config.md"), "Settings").splitlines()
    assert _setting_row(setting) in rows, (
        f"docs/config.md lacks or has a stale row for {setting.env}; "
        f"it should read:\n{_setting_row(setting)}"
    )


def test_config_md_has_no_row_for_an_undeclared_setting():
    rows = _rows(_section(_read("config.md"), "Settings"))
    declared = {s.env for s in SETTINGS} | {"variable"}
    assert sorted(set(rows) - declared) == []


@pytest.mark.parametrize("name", OPERATIONS)
def test_every_operation_field_has_a_row_in_its_section_of_operations_md(name: str):
    rows = _rows(_section(_read("operations.md"), f"`{name}`"))
    missing = sorted(f for f in _allowed_fields(name) if f not in rows)
    assert not missing, f"docs/operations.md `{name}` lacks fields {missing}"


def test_the_common_fields_are_in_operations_md():
    rows = _rows(_section(_read("operations.md"), "Common fields"))
    assert [f for f in COMMON_FIELDS if f not in rows] == []


@pytest.mark.parametrize("name", OPERATIONS)
def test_every_operation_has_valid_examples(name: str):
    body = _section(_read("operations.md"), f"`{name}`")
    blocks = re.findall(r"```json\n(.*?)```", body, flags=re.S)
    payloads = [json.loads(line) for b in blocks for line in b.splitlines() if line]
    assert payloads, f"docs/operations.md `{name}` has no example"
    for payload in payloads:
        assert parse_operation(payload, CURRENCIES).name == name


@pytest.mark.parametrize("biz", CATALOGUE, ids=lambda b: b.code)
def test_every_business_type_has_its_catalogue_row(biz: BizType):
    rows = _rows(_section(_read("operations.md"), "Business-type catalogue"))
    assert rows.get(biz.code) == [
        biz.code,
        biz.display,
        biz.spot_filter or NONE,
        biz.hf_filter or NONE,
    ], f"{biz.code}: missing or stale row in docs/operations.md"


@pytest.mark.parametrize("currency", DEFAULT_CURRENCIES, ids=lambda c: c.code)
def test_every_default_currency_has_its_catalogue_row(currency: Currency):
    rows = _rows(_section(_read("operations.md"), "Currency catalogue"))
    expected = [currency.code, str(currency.precision), currency.name]
    assert rows.get(currency.code) == expected


@pytest.mark.parametrize("account_type", AccountType, ids=str)
def test_every_account_type_is_in_the_books_table(account_type: AccountType):
    body = _section(_read("operations.md"), "Which ledger shows an entry (books)")
    book = book_of(account_type, "DEPOSIT").value
    rows = [
        line
        for line in body.splitlines()
        if line.startswith("|") and f"`{account_type.value}`" in line.split("|")[1]
    ]
    assert rows, f"account type {account_type.value} is not in the books table"
    assert f"`{book}`" in rows[0], f"{account_type.value} should show in {book}"


@pytest.mark.parametrize(
    ("path", "command"), [pytest.param(p, c, id=p) for p, c in _commands()]
)
def test_every_command_and_its_options_are_in_cli_md(path: str, command: click.Command):
    body = _section(_read("cli.md"), f"`{path}`")
    options = {
        name
        for param in command.params
        if isinstance(param, click.Option)
        for name in param.opts
        if name.startswith("--") and name != "--help"
    }
    missing = sorted(o for o in options if o not in body)
    assert not missing, f"docs/cli.md `{path}` lacks options {missing}"


def _slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_links_between_docs_resolve(page: str):
    for target, anchor in re.findall(r"\]\(([\w.-]+\.md)(?:#([\w-]+))?\)", _read(page)):
        assert (DOCS / target).exists(), f"{page} links to missing {target}"
        if anchor:
            slugs = {_slug(title) for _, _, title in _headings(_read(target))}
            assert anchor in slugs, f"{page} links to missing {target}#{anchor}"


def _layout_lines() -> list[tuple[str, str]]:
    """(path under src/, line) for each module the Layout tree of
    architecture.md names: a folder line ("storage/") opens a folder for the
    lines indented under it; a line of a wrapped description is skipped."""
    tree = _section(_read("architecture.md"), "Layout").split("```")[1]
    named: list[tuple[str, str]] = []
    folders: list[tuple[int, str]] = []  # (indent, path), innermost last
    for line in filter(str.strip, tree.splitlines()):
        indent, name = len(line) - len(line.lstrip()), line.split()[0]
        if not name.endswith(("/", ".py")):
            continue
        while folders and folders[-1][0] >= indent:
            folders.pop()
        path = (folders[-1][1] if folders else "") + name
        if name.endswith("/"):
            folders.append((indent, path))
        elif path.startswith("src/"):
            named.append((path.removeprefix("src/"), line.strip()))
    return named


MODULES = sorted(
    p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if p.name != "__init__.py"
)


@pytest.mark.parametrize("module", MODULES)
def test_every_module_under_src_has_a_line_in_architecture_md(module: str):
    named = {path for path, _ in _layout_lines()}
    assert module in named, f"docs/architecture.md has no line for src/{module}"


def test_architecture_md_names_only_modules_that_exist_and_each_once():
    lines = _layout_lines()
    stale = [f"src/{p}: {line!r}" for p, line in lines if not (SRC / p).is_file()]
    assert stale == [], f"docs/architecture.md names missing modules: {stale}"
    paths = [path for path, _ in lines]
    assert sorted({p for p in paths if paths.count(p) > 1}) == []
