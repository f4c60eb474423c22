"""kuledger seed"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from itertools import chain
from queue import Empty, Full
from typing import Any

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from kuledger.cli.context import container, fail, reports_errors
from kuledger.domain.times import DAY_MS
from kuledger.domain.users import User
from kuledger.services import ledger
from kuledger.services.ports import UnitOfWorkFactory
from kuledger.services.seed import Batch, SeedPlan, batches
from kuledger.storage import partitions
from kuledger.storage.bulk_load import copy_load

# Operations per transaction. With 20,000 users, 10,000 seeded about 1.4x
# faster than 2,000: each commit rewrites the index pages it touched, and a bigger
# batch puts more of a user's entries on each of those pages.
BATCH_OPERATIONS = 10_000


@click.command()
@click.option(
    "--users", "user_count", type=click.IntRange(min=1), default=100, show_default=True
)
@click.option(
    "--entries", type=click.IntRange(min=1), default=10_000, show_default=True
)
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--end", "end_at", type=int, help="Time of the last entry in ms (default: now)."
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted seed with the same arguments (and --end).",
)
@click.option(
    "--copy",
    is_flag=True,
    help="PostgreSQL: write the whole history in one transaction with COPY "
    "(minutes for millions of entries, not the per-batch path); an interrupted "
    "run leaves nothing, so --resume starts it again.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@reports_errors
def seed(
    user_count: int,
    entries: int,
    days: int,
    seed: int,
    end_at: int | None,
    resume: bool,
    copy: bool,
    quiet: bool,
) -> None:
    """Write deterministic, realistic synthetic history through the bulk path.

    Users are named seed-SEED-000000 ...; a few are far more active than the rest.
    """
    c = container()
    plan = SeedPlan(user_count, entries, days, seed, end_at or c.clock())
    # Batches commit whole and in order: what an interrupted run applied is
    # exactly the first `applied` operations of the same plan.
    applied = c.reader.count_operations(plan.uid_prefix)
    if applied and not resume:
        fail(
            f"this database already holds history of --seed {seed}; add --resume "
            "(same arguments and --end) to continue it, or seed a fresh database "
            "or another --seed"
        )
    _create_users(c, plan)
    # PostgreSQL: months with no partition of their own would go to DEFAULT.
    partitions.ensure_month_partitions(
        c.engine, plan.end_at - plan.days * DAY_MS, plan.end_at
    )
    written = 0
    with Progress(
        TextColumn("[bold]seeding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("entries"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=quiet,
    ) as progress:
        task = progress.add_task("seed", total=entries)
        with _writer(c, copy and not applied) as uow:
            for batch, count in _generated_batches(plan, applied):
                if batch:  # (the first of a resumed run is empty: already there)
                    ledger.apply_batch(uow, batch, c.clock)
                progress.advance(task, count)
                written += count
    click.echo(f"seeded {written} entries for {user_count} users over {days} days")


def _writer(c: Any, copy: bool) -> AbstractContextManager[UnitOfWorkFactory]:
    """The units of work the batches are applied in: the container's, one
    transaction per batch; or with `copy`, one COPY load for all of them (a
    COPY load commits whole, so a database it wrote to holds all of its
    operations: a resumed run then finds nothing left to write)."""
    if not copy:
        return nullcontext(c.uow)
    if c.engine.dialect.name != "postgresql":
        fail("--copy needs a PostgreSQL database (KULEDGER_DATABASE_URL)")
    return copy_load(c.engine)


def _create_users(c: Any, plan: SeedPlan) -> None:
    uids = [plan.uid(i) for i in range(plan.users)]
    with c.uow() as uow:
        existing = uow.users.get(uids)
        uow.users.add(
            *(
                User(uid, None, vip_level=index % 3, created_at=c.clock())
                for index, uid in enumerate(uids)
                if uid not in existing
            )
        )
        uow.commit()


def _produce(
    plan: SeedPlan, skip: int, queue: mp.Queue[Batch | None], writer: int
) -> None:
    for item in chain(
        batches(plan, BATCH_OPERATIONS, skip), [None]
    ):  # streamed, never all in memory
        while True:
            try:
                queue.put(item, timeout=2)
                break
            except Full:
                if os.getppid() != writer:
                    return  # the writer was killed: nobody will read this


def _generated_batches(plan: SeedPlan, skip: int) -> Iterator[Batch]:
    """The plan's batches, generated in a child process while this one writes.

    Generating (Decimal arithmetic, random draws) then overlaps with writing
    the previous batches, on a second core. The child gives up when this
    process is killed (it would otherwise wait on a full queue forever).
    """
    context = mp.get_context("spawn")  # no inherited database connections
    queue: mp.Queue[Batch | None] = context.Queue(maxsize=4)
    producer = context.Process(
        target=_produce, args=(plan, skip, queue, os.getpid()), daemon=True
    )
    producer.start()
    try:
        while True:
            try:
                item = queue.get(timeout=5)
            except Empty:
                if not producer.is_alive():
                    fail(f"the seed generator stopped (exit code {producer.exitcode})")
                continue
            if item is None:
                return
            yield item
    finally:
        producer.kill()
        producer.join()
