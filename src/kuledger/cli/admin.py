"""kuledger init | verify | users ... | keys ..."""

from __future__ import annotations

import click
from sqlalchemy.engine import Engine

from kuledger.bootstrap import Container
from kuledger.cli.context import container, print_json, reports_errors
from kuledger.domain.times import DAY_MS
from kuledger.domain.users import Permission, parse_networks
from kuledger.services import funding
from kuledger.services import keys as key_service
from kuledger.services import users as user_service
from kuledger.services.verify import verify_all
from kuledger.storage import migrate, partitions
from kuledger.storage.checkpoints import save_checkpoints
from kuledger.storage.secretbox import (
    SHOWN,
    SecretKeyError,
    bind_key,
    create_key_file,
    find_box,
    recorded_fingerprint,
    sealed_secret_count,
)


@click.command()
@reports_errors
def init() -> None:
    """Create or upgrade the database schema, and the secret key file.

    On PostgreSQL, also create the monthly partitions of entries from last
    month (or the oldest month that has one, within retention) to three months
    ahead. The database records the secret key's fingerprint; init never
    creates a new key for a database that holds API secrets or a fingerprint.
    """
    c = container()
    before, after = migrate.upgrade(c.engine)
    state = (
        "created"
        if before is None
        else ("upgraded" if before != after else "up to date")
    )
    click.echo(f"schema {state} (revision {after})")
    now = c.clock()
    created = partitions.ensure_month_partitions(
        c.engine,
        _first_month(c.engine, now, c.settings.retention_days),
        partitions.shift_months(now, 3),
    )
    if created:
        click.echo(f"monthly partitions created: {', '.join(created)}")
    _bind_secret_key(c)


def _bind_secret_key(c: Container) -> None:
    """Create the key file if there is no key and the database needs none
    yet; then check the key against the database's fingerprint, or record it."""
    source = c.key_source
    box = find_box(source)
    if box is None:
        recorded = recorded_fingerprint(c.engine)
        sealed = sealed_secret_count(c.engine)
        if recorded is not None or sealed:
            held = (
                f"holds {sealed} API key secret(s) sealed with key {recorded[:SHOWN]}"
                if recorded is not None and sealed
                else f"is bound to key {recorded[:SHOWN]}"
                if recorded is not None
                else f"holds {sealed} sealed API key secret(s)"
            )
            raise SecretKeyError(
                f"no key file at {source.file_and_rule()}, and this database "
                f"{held}: a new key could not open them, so none is created. Point "
                "KULEDGER_SECRET_KEY_FILE at the key file this database was set "
                "up with, or set KULEDGER_SECRET_KEY"
            )
        create_key_file(source.key_file)
        click.echo(
            f"secret key file created: {source.key_file.absolute()} "
            "(mode 0600; back it up)"
        )
        box = find_box(source)
        assert box is not None
    if bind_key(c.engine, box, source, c.clock()):
        click.echo(
            f"secret key fingerprint recorded: {box.fingerprint[:SHOWN]} for "
            f"{source.describe()}"
        )


def _first_month(engine: Engine, now: int, retention_days: int) -> int:
    """Where init starts creating months: last month, or the oldest month that
    already has a partition (filling gaps), never before the retention horizon.

    Not the horizon itself: a retention of 100,000 days would be 3,300 empty
    tables, and every query and insert on `entries` locks each of them.
    Older months are created by whoever writes them (seed, import).
    """
    oldest = min(
        (p.start for p in partitions.list_partitions(engine) if p.start is not None),
        default=now,
    )
    earliest = min(oldest, partitions.shift_months(now, -1))
    return max(earliest, now - retention_days * DAY_MS)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--since",
    is_flag=True,
    help="Resume each account from its last verify checkpoint: read only newer "
    "entries.",
)
@reports_errors
def verify(as_json: bool, since: bool) -> None:
    """Recompute every account from its entries and check their hash chains;
    exit 1 on any mismatch. A clean run stores a checkpoint per account."""
    c = container()
    with c.reader.snapshot() as snapshot:  # accounts and entries of one moment
        report = verify_all(snapshot, since)
        funding.check_booked(c.funding_queries_on(snapshot.connections), report)
    saved = 0
    if report.ok:  # what was verified clean is where --since resumes
        saved = save_checkpoints(c.engine, report.heads.values(), c.clock())
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "accounts": report.accounts,
                "entries": report.entries,
                "operations": report.operations,
                "problems": report.problems,
                "problem_count": report.problem_count,
                "findings": [f.as_dict() for f in report.findings],
                "kinds": dict(sorted(report.kinds.items())),
                "chained": report.chained,
                "broken_chains": report.broken_chains,
                "since": since,
                "resumed": report.resumed,
                "checkpoints_saved": saved,
                "root": report.root if saved else None,
            }
        )
    else:
        for finding in report.findings:
            click.echo(f"MISMATCH {finding.kind}: {finding.message}")
        if report.problem_count > len(report.findings):
            click.echo(f"... and {report.problem_count - len(report.findings)} more")
        if since:
            click.echo(
                f"since checkpoints: {report.resumed} of {report.accounts} accounts "
                f"resumed, {report.entries} newer entries read"
            )
        if saved:
            click.echo(f"checkpoint root: {report.root}")
        verdict = "OK" if report.ok else f"FAILED: {report.problem_count} problem(s)"
        click.echo(
            f"{verdict}: {report.accounts} accounts, {report.entries} entries checked"
        )
    if not report.ok:
        raise SystemExit(1)


@click.group()
def users() -> None:
    """Create users and change their VIP level or HF mode."""


@users.command("create")
@click.option("--uid", help="The user id (default: a random 12-digit number).")
@click.option("--parent", "parent_uid", help="Make this a sub-account of PARENT.")
@click.option(
    "--vip", "vip_level", type=click.IntRange(0, 12), default=0, show_default=True
)
@click.option(
    "--hf", is_flag=True, help="Trade from trade_hf accounts (KuCoin HF mode)."
)
@click.option("--json", "as_json", is_flag=True, help='Print {"uid": ...} as JSON.')
@reports_errors
def users_create(
    uid: str | None, parent_uid: str | None, vip_level: int, hf: bool, as_json: bool
) -> None:
    """Create a user (classic, not HF, unless --hf)."""
    c = container()
    user = user_service.create_user(
        c.uow, c.clock, uid=uid, parent_uid=parent_uid, vip_level=vip_level, hf=hf
    )
    if as_json:
        print_json(
            {
                "uid": user.uid,
                "parent": user.parent_uid,
                "vip": user.vip_level,
                "hf": user.hf,
            }
        )
    else:
        click.echo(f"created user {user.uid}")


@users.command("set-hf")
@click.argument("uid")
@click.option("--off", is_flag=True, help="Switch the user back to classic mode.")
@reports_errors
def users_set_hf(uid: str, off: bool) -> None:
    """Switch a user to HF mode (or back with --off)."""
    user = user_service.update_user(container().uow, uid, hf=not off)
    click.echo(f"user {user.uid} is now {'HF' if user.hf else 'classic'}")


@users.command("set-vip")
@click.argument("uid")
@click.argument("level", type=click.IntRange(0, 12))
@reports_errors
def users_set_vip(uid: str, level: int) -> None:
    """Set a user's VIP level (0-12), which sets their rate-limit quotas."""
    user = user_service.update_user(container().uow, uid, vip_level=level)
    click.echo(f"user {user.uid} is now VIP {user.vip_level}")


@click.group()
def keys() -> None:
    """Issue, list and revoke API keys."""


@keys.command("create")
@click.option("--uid", required=True)
@click.option(
    "--permissions",
    default="General",
    show_default=True,
    help="Comma-separated: General,Spot,Margin,Futures,FlexTransfers.",
)
@click.option(
    "--ip", default="", help="Comma-separated CIDRs the key may be used from."
)
@click.option(
    "--key-version", type=click.Choice(["1", "2", "3"]), default="3", show_default=True
)
@click.option("--passphrase", help="The key's passphrase (default: a random one).")
@click.option(
    "--json", "as_json", is_flag=True, help="Print key, secret and passphrase as JSON."
)
@reports_errors
def keys_create(
    uid: str,
    permissions: str,
    ip: str,
    key_version: str,
    passphrase: str | None,
    as_json: bool,
) -> None:
    """Issue a key. Its secret and passphrase are printed this once only."""
    c = container()
    api_key = key_service.create_key(
        c.uow,
        c.box,
        c.clock,
        uid=uid,
        permissions=Permission.parse_list(permissions),
        ip_whitelist=parse_networks(ip),
        key_version=int(key_version),
        passphrase=passphrase,
    )
    if as_json:
        print_json(
            {
                "key": api_key.key,
                "secret": api_key.secret,
                "passphrase": api_key.passphrase,
                "uid": uid,
                "keyVersion": api_key.key_version,
            }
        )
        return
    click.echo(f"key:        {api_key.key}")
    click.echo(f"secret:     {api_key.secret}")
    click.echo(f"passphrase: {api_key.passphrase}")
    click.echo("Store the secret and passphrase now: they are not shown again.")


@keys.command("revoke")
@click.argument("key")
@reports_errors
def keys_revoke(key: str) -> None:
    """Revoke a key; it stops working at once."""
    c = container()
    key_service.revoke_key(c.uow, c.clock, key)
    click.echo(f"revoked {key}")


@keys.command("list")
@click.option("--uid", required=True)
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def keys_list(uid: str, as_json: bool) -> None:
    """List a user's keys (never their secrets)."""
    rows = [
        {
            "key": k.key,
            "permissions": k.permissions,
            "ip": k.ip_whitelist,
            "keyVersion": k.key_version,
            "createdAt": k.created_at,
            "revokedAt": k.revoked_at,
        }
        for k in key_service.list_keys(container().uow, uid)
    ]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        state = "revoked" if row["revokedAt"] else "active"
        click.echo(
            f"{row['key']}  v{row['keyVersion']}  {row['permissions']}  "
            f"ip={row['ip'] or 'any'}  {state}"
        )
