"""./scripts/bench [--quick] [--dry-run] [--only NAME ...] [--scaling N,N,...]
                  [--postgres-entries N,N,...] [--prepare [--jobs N]] [--profile]

Runs the scenarios, prints a markdown table and writes bench/results/latest.json.
Every figure stands beside a baseline measured in the same run (a ratio).
--prepare only seeds the databases the scenarios read (into bench/cache, N at
a time) and exits: the slow part of a first run, done once."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import harness, scenarios

RESULTS = Path(__file__).resolve().parent / "results"


def _plan(size: scenarios.Size, dry: bool) -> dict[str, Callable[[], Any]]:
    plan: dict[str, Callable[[], Any]] = {
        "ledger": lambda: scenarios.ledger_query(size),
        "ledger-2-workers": lambda: scenarios.ledger_query(size, workers=2),
        "ledger-postgres": lambda: scenarios.ledger_postgres(size),
        "ledger-replica": lambda: scenarios.ledger_replica(size),
        "deep-pages": lambda: scenarios.deep_pages(size),
        "ingest-sqlite": lambda: scenarios.ingestion(size, "sqlite"),
        "ingest-postgres": lambda: scenarios.ingestion(size, "postgres"),
        "post-file-sqlite": lambda: scenarios.post_file(size, "sqlite"),
        "post-file-postgres": lambda: scenarios.post_file(size, "postgres"),
        "single-commits-postgres": lambda: scenarios.hot_commits(size),
        "operator-sqlite": lambda: scenarios.operator_single(size, "sqlite"),
        "operator-postgres": lambda: scenarios.operator_single(size, "postgres"),
        "operator-postgres-2-workers": lambda: scenarios.operator_single(
            size, "postgres", workers=2
        ),
        "operator-batch-sqlite": lambda: scenarios.operator_batch(size, "sqlite"),
        "operator-batch-postgres": lambda: scenarios.operator_batch(size, "postgres"),
        "export": lambda: scenarios.export(size),
        "explorer": lambda: scenarios.explorer(size),
        "scaling": lambda: scenarios.scaling(size),
    }
    if dry:  # the smoke run: one tiny scenario of each kind
        for name in (
            "ledger-2-workers",
            "ledger-postgres",
            "scaling",
            "single-commits-postgres",
            "post-file-postgres",
            "operator-postgres",
            "operator-postgres-2-workers",
            "operator-batch-postgres",
        ):
            plan.pop(name)
    return plan


def _cell(result: dict[str, Any], side: str) -> str:
    return _values(result.get(side) or {})


def _values(values: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:,}"
        if isinstance(v, int | float)
        else f"{k} ({_values(v)})"
        if isinstance(v, dict)
        else f"{k} {v}"
        for k, v in values.items()
    )


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | measured | baseline (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['scenario']} | error: {r['error']} | | | | no |")
            continue
        met = {True: "yes", False: "no", None: "n/a"}[r.get("met")]
        lines.append(
            f"| {r['scenario']} | {_cell(r, 'measured')} | {_cell(r, 'baseline')} "
            f"| {r.get('ratio')} | {r.get('target', '')} | {met} |"
        )
    return "\n".join(lines)


def prepare(datasets: list[harness.Dataset], jobs: int) -> None:
    """Seed every dataset that is not cached yet, `jobs` at a time (each seed
    is its own `kuledger seed` process, on its own database)."""

    def one(dataset: harness.Dataset) -> str:
        began = time.perf_counter()
        dataset.load()
        return f"{dataset}: ready in {time.perf_counter() - began:.0f} s"

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for line in pool.map(one, datasets):
            print(line, file=sys.stderr)


def _entry_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a list of entry counts: {text}"
        ) from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"entry counts must be positive: {text}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller data, shorter runs"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="tiny data: check it runs"
    )
    parser.add_argument("--only", nargs="*", help="run only these scenarios")
    parser.add_argument(
        "--prepare", action="store_true", help="only seed the cached databases"
    )
    parser.add_argument(
        "--scaling",
        type=_entry_counts,
        help="database sizes of the scaling curve, e.g. 1000000,10000000 "
        "(default: the mode's; full: 1M, 10M, 30M)",
    )
    parser.add_argument(
        "--postgres-entries",
        type=_entry_counts,
        help="database sizes of ledger-postgres, e.g. 2000000 "
        "(default: the mode's; full: 2M and 10M)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the servers and the bulk path with py-spy during the load "
        "(bench/results/profiles/; the top functions go into the JSON)",
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="databases seeded at once (--prepare)"
    )
    args = parser.parse_args()
    if not harness.have_wrk():
        sys.exit("wrk is not installed: apt-get install wrk (./scripts/bench does it)")
    size = (
        scenarios.DRY
        if args.dry_run
        else scenarios.QUICK
        if args.quick
        else scenarios.FULL
    )
    if args.scaling:
        size = replace(size, scaling=args.scaling)
    if args.postgres_entries:
        size = replace(size, postgres_entries=args.postgres_entries)
    if args.profile:
        os.environ["BENCH_PROFILE"] = "1"
    plan = _plan(size, args.dry_run)
    if args.prepare:
        prepare(scenarios.datasets(size, set(args.only or plan)), args.jobs)
        return
    began = time.time()
    # Seed what is not cached yet up front, `--jobs` at a time (largest first):
    # a cold --quick then seeds on both cores instead of one scenario at a time.
    prepare(scenarios.datasets(size, set(args.only or plan)), args.jobs)
    results: list[dict[str, Any]] = []
    for name, run in plan.items():
        if args.only and name not in args.only:
            continue
        print(f"== {name}", file=sys.stderr)
        started = time.time()
        try:
            outcome = run()
        except Exception as exc:  # a failed scenario is reported, the rest still run
            traceback.print_exc()
            outcome = {"scenario": name, "error": f"{type(exc).__name__}: {exc}"[:300]}
        print(f"   {name}: {time.time() - started:.0f} s", file=sys.stderr)
        results.extend(outcome if isinstance(outcome, list) else [outcome])
    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(began)),
        "seconds": round(time.time() - began),
        "mode": "dry-run" if args.dry_run else "quick" if args.quick else "full",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    # A dry run only proves the scenarios run: it must not replace real results.
    target = RESULTS / ("dry-run.json" if args.dry_run else "latest.json")
    target.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))
    print(f"\n{len(results)} results in {report['seconds']} s; written to {target}")
    if any("error" in r for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
