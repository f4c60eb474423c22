"""kuledger export: a complete, resumable history export from any
KuCoin-compatible API (kuledger or KuCoin itself) to JSONL or CSV."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, cast

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from kuledger.cli.context import fail
from kuledger.cli.export_output import (
    ZERO,
    ExportProgress,
    Summary,
    checkpoint_path,
    csv_header,
    encode,
    net_text,
    partial_path,
)
from kuledger.cli.tax_formats import TAX_FORMATS, encode_window, header
from kuledger.cli.times import DAYS_AGO, iso, parse_time
from kuledger.config import (
    ApiProfile,
    ConfigError,
    api_profile_from_environment,
    load_profile,
)
from kuledger_client import (
    DEFAULT_BASE_URL,
    LEDGERS,
    AnyLedgerEntry,
    BadRequestError,
    ClientError,
    KucoinClient,
    LedgerName,
    NotFoundError,
    ledger_windows,
    window_count,
)


@dataclass(frozen=True, slots=True)
class Job:
    """What to export, as recorded in the checkpoint (never any credential)."""

    base_url: str
    futures_base_url: str
    ledgers: tuple[LedgerName, ...]
    currencies: tuple[str, ...]
    fmt: str
    since: int
    until: int
    uid: str = ""  # the UID column of --format kucoin

    def options(self) -> dict[str, Any]:
        uid = {"uid": self.uid} if self.uid else {}  # older checkpoints have none
        return {
            **uid,
            "baseUrl": self.base_url,
            "futuresBaseUrl": self.futures_base_url,
            "ledgers": list(self.ledgers),
            "currencies": list(self.currencies),
            "format": self.fmt,
            "since": self.since,
            "until": self.until,
        }

    @property
    def tag_ledger(self) -> bool:
        return len(self.ledgers) > 1

    def units(self) -> Iterator[tuple[LedgerName, tuple[int, int]]]:
        """(ledger, window) in output order: each ledger oldest window first."""
        for ledger in self.ledgers:
            for window in ledger_windows(self.since, self.until, newest_first=False):
                yield ledger, window

    @property
    def total(self) -> int:
        return len(self.ledgers) * window_count(self.since, self.until)


def _profile(
    given: ApiProfile, profile_name: str | None, profiles_file: Path | None
) -> ApiProfile:
    """Options first, then the --profile table, then KULEDGER_API_* variables."""
    from_env, default_file = api_profile_from_environment()
    merged = given
    if profile_name:
        merged = merged.or_else(
            load_profile(profiles_file or default_file, profile_name)
        )
    merged = merged.or_else(from_env)
    missing = [
        option
        for option, value in (
            ("--key / KULEDGER_API_KEY", merged.key),
            ("--secret / KULEDGER_API_SECRET", merged.secret),
            ("--passphrase / KULEDGER_API_PASSPHRASE", merged.passphrase),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"missing credentials: {', '.join(missing)} (or --profile NAME)"
        )
    return merged


@click.command("export")
@click.option("--base-url", help=f"API base URL (default {DEFAULT_BASE_URL}).")
@click.option(
    "--futures-base-url",
    help="Futures API base URL (default: api-futures.kucoin.com for KuCoin, "
    "else the base URL).",
)
@click.option("--key", help="API key (or KULEDGER_API_KEY, or a profile).")
@click.option("--secret", help="API secret (or KULEDGER_API_SECRET).")
@click.option("--passphrase", help="API passphrase (or KULEDGER_API_PASSPHRASE).")
@click.option(
    "--key-version",
    type=click.Choice(["1", "2", "3"]),
    help="API key version (default 3, or KULEDGER_API_KEY_VERSION).",
)
@click.option(
    "--profile", "profile_name", help="Read a [NAME] table of the profiles file."
)
@click.option(
    "--profiles-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Profiles file (default ~/.config/kuledger/profiles.toml).",
)
@click.option(
    "--since",
    required=True,
    help="First day or time: YYYY-MM-DD, ISO-8601, ms, or Nd (N days ago).",
)
@click.option("--until", help="Last day or time, inclusive (default: now).")
@click.option(
    "--currency", "currencies", multiple=True, help="Only this currency (repeatable)."
)
@click.option(
    "--ledger",
    type=click.Choice([*LEDGERS, "all"]),
    default="spot",
    show_default=True,
    help="Which ledger; all: spot, hf, margin-hf and futures.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", *TAX_FORMATS]),
    required=True,
    help="jsonl, csv, or a tax tool's import file: koinly, cointracking, "
    "kucoin (KuCoin's account-history export).",
)
@click.option("--uid", default="", help="The UID column of --format kucoin.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--resume", is_flag=True, help="Continue an interrupted export of the same options."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def export(
    base_url: str | None,
    futures_base_url: str | None,
    key: str | None,
    secret: str | None,
    passphrase: str | None,
    key_version: str | None,
    profile_name: str | None,
    profiles_file: Path | None,
    since: str,
    until: str | None,
    currencies: tuple[str, ...],
    ledger: str,
    fmt: str,
    uid: str,
    out: Path,
    resume: bool,
    quiet: bool,
) -> None:
    """Export a user's complete ledger history, in 24-hour windows, to a
    JSONL file (each line the KuCoin item unchanged), a CSV file, or the CSV
    that Koinly, CoinTracking or KuCoin's website writes (columns in
    docs/export.md). Interrupted? Run it again with --resume."""
    try:
        profile = _profile(
            ApiProfile(
                base_url,
                futures_base_url,
                key,
                secret,
                passphrase,
                int(key_version) if key_version else None,
            ),
            profile_name,
            profiles_file,
        )
    except ConfigError as exc:
        fail(str(exc))
    since_ms = parse_time(since, option="--since")
    until_ms = (
        parse_time(until, end_of_day=True, option="--until")
        if until
        else int(time.time() * 1000)
    )
    if until_ms < since_ms:
        fail("--until is before --since")
    ledgers = LEDGERS if ledger == "all" else (cast(LedgerName, ledger),)
    with KucoinClient(
        profile.key,
        profile.secret,
        profile.passphrase,
        key_version=profile.key_version or 3,
        base_url=profile.base_url or DEFAULT_BASE_URL,
        futures_base_url=profile.futures_base_url,
    ) as client:
        job = Job(
            client.base_url,
            client.futures_base_url,
            ledgers,
            tuple(dict.fromkeys(c.strip() for c in currencies if c.strip())),
            fmt,
            since_ms,
            until_ms,
            uid.strip(),
        )
        try:
            moving = Moving(
                since=DAYS_AGO.fullmatch(since.strip()) is not None,
                until=until is None or DAYS_AGO.fullmatch(until.strip()) is not None,
            )
            summary, job = _run(client, job, out, resume, quiet, moving)
        except OSError as exc:
            fail(f"cannot write {exc.filename or out}: {exc.strerror or exc}")
    _print_summary(job, out, summary)


@dataclass(frozen=True, slots=True)
class Moving:
    """Which bounds move with the clock (now, Nd): a resumed export keeps the
    first run's."""

    since: bool
    until: bool


def _start(
    job: Job, out: Path, resume: bool, moving: Moving
) -> tuple[ExportProgress, IO[bytes]]:
    """The checkpoint to go on from and FILE.partial opened at its end."""
    partial, saved_at = partial_path(out), checkpoint_path(out)
    saved = ExportProgress.load(saved_at) if resume else None
    if resume and saved is None:
        click.echo(
            f"no checkpoint at {saved_at}: starting from the beginning", err=True
        )
    if saved is not None:
        options = job.options()
        if moving.until:  # --until defaults to now: keep the first run's end
            options["until"] = saved.options.get("until")
        if moving.since:
            options["since"] = saved.options.get("since")
        if saved.options != options:
            fail(
                "the checkpoint was written by an export with other options; "
                "run without --resume to start over"
            )
    if saved is not None and (
        not partial.exists() or partial.stat().st_size < saved.size
    ):
        click.echo(f"{partial} is missing or short: starting over", err=True)
        saved = None
    if saved is None:
        if not resume and saved_at.exists():
            click.echo(f"discarding the interrupted export in {partial}", err=True)
        partial.write_bytes(_header(job.fmt))
        saved = ExportProgress(job.options(), size=partial.stat().st_size)
        saved.save(saved_at)
    handle = partial.open("r+b")
    handle.truncate(saved.size)  # drop a half-written window, if any
    handle.seek(saved.size)
    return saved, handle


def _header(fmt: str) -> bytes:
    if fmt in TAX_FORMATS:
        return header(fmt)
    return csv_header() if fmt == "csv" else b""


def _run(
    client: KucoinClient,
    job: Job,
    out: Path,
    resume: bool,
    quiet: bool,
    moving: Moving,
) -> tuple[Summary, Job]:
    checkpoint, handle = _start(job, out, resume, moving)
    job = replace(
        job,
        since=int(checkpoint.options["since"]),
        until=int(checkpoint.options["until"]),
    )
    started = time.monotonic()
    done_before = checkpoint.summary.entries
    progress = Progress(
        TextColumn("[bold]exporting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("windows"),
        TextColumn("{task.fields[entries]:,} entries"),
        TextColumn("{task.fields[rate]:,.0f}/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=quiet,
    )
    try:
        with handle, progress:
            task = progress.add_task(
                "export",
                total=job.total,
                completed=checkpoint.done,
                entries=checkpoint.summary.entries,
                rate=0.0,
            )
            for index, (ledger, window) in enumerate(job.units()):
                if index < checkpoint.done:
                    continue
                if ledger not in checkpoint.skipped:
                    _export_window(client, job, ledger, window, handle, checkpoint)
                handle.flush()
                os.fsync(handle.fileno())
                checkpoint.done = index + 1
                checkpoint.size = handle.tell()
                checkpoint.save(checkpoint_path(out))
                elapsed = max(time.monotonic() - started, 1e-6)
                progress.update(
                    task,
                    completed=checkpoint.done,
                    entries=checkpoint.summary.entries,
                    rate=(checkpoint.summary.entries - done_before) / elapsed,
                )
    except KeyboardInterrupt:
        fail(
            f"interrupted after {checkpoint.done} of {job.total} windows; "
            "run the same command with --resume to continue"
        )
    except BadRequestError as exc:  # the same request fails again on --resume
        fail(
            f"{exc}; the server refuses this request, so change the options "
            "(a --since older than the server keeps history is refused: KuCoin "
            "keeps one year, try --since 364d)"
        )
    except ClientError as exc:
        fail(
            f"{exc}; {checkpoint.done} of {job.total} windows are saved, "
            "--resume continues after them"
        )
    os.replace(partial_path(out), out)
    checkpoint_path(out).unlink(missing_ok=True)
    return checkpoint.summary, job


def _export_window(
    client: KucoinClient,
    job: Job,
    ledger: LedgerName,
    window: tuple[int, int],
    handle: IO[bytes],
    checkpoint: ExportProgress,
) -> None:
    lines: list[bytes] = []
    found: list[AnyLedgerEntry] = []  # for a tax tool: encoded a window at once
    tax = job.fmt in TAX_FORMATS
    entries = client.iter_ledger(
        window[0],
        window[1],
        ledger=ledger,
        currencies=job.currencies or None,
        newest_first=False,
    )
    try:
        for entry in entries:
            if tax:
                found.append(entry)
            else:
                lines.append(encode(job.fmt, ledger, entry, job.tag_ledger))
            checkpoint.summary.add(ledger, entry)
    except NotFoundError as exc:
        if exc.code != "404000" or len(job.ledgers) == 1:
            raise
        # --ledger all against a server without this ledger: say so, go on
        click.echo(f"skipping the {ledger} ledger: the server answers {exc}", err=True)
        checkpoint.skipped.append(ledger)
        return
    if tax:  # a trade's legs (same time, same window) become one row
        rows, omitted = encode_window(job.fmt, ledger, found, job.uid)
        checkpoint.summary.omitted += omitted
        lines.append(rows)
    handle.write(b"".join(lines))


def _print_summary(job: Job, out: Path, summary: Summary) -> None:
    echo = click.echo
    echo(f"exported {summary.entries} entries to {out}")
    echo(f"  window: {iso(job.since)} .. {iso(job.until)}")
    echo(f"  first:  {iso(summary.first_at)}")
    echo(f"  last:   {iso(summary.last_at)}")
    if len(job.ledgers) > 1:
        echo("  by ledger:")
        for name, count in sorted(summary.by_ledger.items()):
            echo(f"    {name:<12} {count:>10}")
    echo("  by currency:            entries   net change")
    for currency in sorted(summary.by_currency):
        net = net_text(summary.net.get(currency, ZERO))
        sign = "" if net.startswith("-") or net == "0" else "+"
        echo(f"    {currency:<20} {summary.by_currency[currency]:>10}   {sign}{net}")
    if summary.omitted:
        echo(
            f"  left out: {summary.omitted} internal transfers (not taxable; "
            "docs/export.md)"
        )
    echo("  by business type:")
    for biz, count in sorted(summary.by_biz_type.items(), key=_count_desc):
        echo(f"    {biz:<30} {count:>10}")


def _count_desc(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])
