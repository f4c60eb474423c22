"""The monitoring listener's app (/healthz, /readyz, /metrics) and the metrics
the API records.

It is its own small Starlette app, served on a port of its own
(KULEDGER_MONITOR_PORT), never on the KuCoin port, so that it can later be
mounted on an operator listener as it is. The API's processes record into
prometheus-client's metrics below; with several workers each writes its own
files in PROMETHEUS_MULTIPROC_DIR and /metrics adds them up (see
`kuledger serve` and docs/deploy.md#monitoring).
"""

from __future__ import annotations

import asyncio
import bisect
import glob
import logging
import math
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from kuledger.config import hide_password
from kuledger.services.ports import StorageUnavailable

log = logging.getLogger("kuledger.monitoring")

# -- What the API's processes record ------------------------------------------

# No *_created series: multiprocess mode has none, so neither has one worker.
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "kuledger_http_requests",
    "API requests answered, by endpoint, HTTP status and KuCoin code",
    ["endpoint", "status", "code"],
)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
_BOUNDS = (*_LATENCY_BUCKETS, math.inf)  # a histogram's buckets end at +Inf
LATENCY = Histogram(
    "kuledger_http_request_duration_seconds",
    "Time from a request's arrival to its response's last byte, by endpoint",
    ["endpoint"],
    buckets=_LATENCY_BUCKETS,
)
RATE_LIMITED = Counter(
    "kuledger_ratelimit_refusals",
    "Requests refused with 429000 because their rate-limit pool was spent",
    ["endpoint"],
)
WRITE_BATCH = Histogram(
    "kuledger_write_batch_operations",
    "Operations written per committed write transaction",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
)
WEBSOCKETS = Gauge(
    "kuledger_websocket_connections",
    "Open private WebSocket connections",
    multiprocess_mode="livesum",
)
KEY_LISTENERS = Gauge(
    "kuledger_key_cache_listeners",
    "API workers whose key cache hears key changes (PostgreSQL); a worker "
    "that does not reads every key from the database",
    multiprocess_mode="livesum",
)

READS = Counter(
    "kuledger_database_reads",
    "Users' ledger and account reads (with read replicas), by where they ran: "
    "a replica's name or primary",
    ["target"],
)


def count_reads(reads: Mapping[str, int]) -> None:
    """Add a poll's tally of reads per target (storage/replicas.py)."""
    for target, count in reads.items():
        READS.labels(target).inc(count)


FLUSH_S = 1.0  # how far /metrics may be behind the requests
RATE_LIMITED_CODE = "429000"
OTHER = "other"  # the endpoint label of a request that matched no route
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))


class _Tally:
    """One label set's requests since the last flush, and where they go."""

    __slots__ = ("buckets", "count", "histogram", "refusals", "requests", "seconds")

    def __init__(self, requests: Any, histogram: Any, refusals: Any) -> None:
        self.requests, self.histogram, self.refusals = requests, histogram, refusals
        self.count, self.seconds = 0, 0.0
        self.buckets = [0] * (len(_BOUNDS))

    def flush(self) -> None:
        self.requests.inc(self.count)
        if self.refusals is not None:
            self.refusals.inc(self.count)
        # prometheus-client can observe one value at a time only: its
        # histogram's own sum and buckets take the tally (stable since 0.x).
        self.histogram._sum.inc(self.seconds)
        for index, count in enumerate(self.buckets):
            if count:
                self.histogram._buckets[index].inc(count)
                self.buckets[index] = 0
        self.count, self.seconds = 0, 0.0


class RequestMetrics:
    """Records each answered request: tallied in plain Python on the event
    loop, added to prometheus-client's values at most FLUSH_S later (and at
    shutdown). With several workers every value write is a locked write to a
    memory-mapped file; three per request cost a ledger request about 3% more,
    the tally a fraction of that. So /metrics is up to FLUSH_S behind."""

    def __init__(self) -> None:
        self._tallies: dict[tuple[Any, str, int, str], _Tally] = {}
        self._names: dict[tuple[Any, str], str] | None = None
        self._flush_due = False

    def request(
        self, scope: Mapping[str, Any], status: int, code: str | None, seconds: float
    ) -> None:
        method = scope["method"]
        if method not in _METHODS:  # any token is a method: keep the keys bounded
            method = OTHER
        key = (scope.get("endpoint"), method, status, code or "")
        tally = self._tallies.get(key)
        if tally is None:
            endpoint = self._endpoint(scope, key[0], method)
            tally = self._tallies[key] = _Tally(
                REQUESTS.labels(endpoint, str(status), key[3]),
                LATENCY.labels(endpoint),
                RATE_LIMITED.labels(endpoint) if key[3] == RATE_LIMITED_CODE else None,
            )
        tally.count += 1
        tally.seconds += seconds
        tally.buckets[bisect.bisect_left(_BOUNDS, seconds)] += 1
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_later(FLUSH_S, self.flush)

    def flush(self) -> None:
        """Add the tallies to the metrics. Call it on the event loop that
        records (the requests' own), or when none is running."""
        self._flush_due = False
        for tally in self._tallies.values():
            if tally.count:
                tally.flush()

    def _endpoint(self, scope: Mapping[str, Any], handler: Any, method: str) -> str:
        """The label, e.g. `GET /api/v1/accounts/{accountId}`: the route's
        template, not the path, and only for a method the route serves, so
        that no client can multiply the series."""
        if self._names is None:
            app = scope.get("app")
            self._names = {
                (route.endpoint, method): f"{method} {route.path}"
                for route in getattr(app, "routes", ())
                if isinstance(route, Route)
                for method in route.methods or ()
            }
        return self._names.get((handler, method), OTHER)


# -- The monitoring app ----------------------------------------------------

Check = Callable[[], None]  # returns when its part is ready, raises otherwise
VerifyStatus = Callable[[], tuple[int | None, int]]  # see storage.probes
# Each replica's name -> its address, state (up, lagging, down, unknown) and
# lag_ms: storage.replicas.ReplicaSet.describe.
Replicas = Callable[[], Mapping[str, Mapping[str, Any]]]


def failure(check: Check) -> str | None:
    """None if the check passes, else what went wrong (no URL password)."""
    try:
        check()
    except Exception as exc:
        shown: BaseException = exc
        while isinstance(shown, StorageUnavailable) and shown.__cause__ is not None:
            shown = shown.__cause__  # the driver's error says more
        return hide_password(f"{type(shown).__name__}: {shown}")[:300]
    return None


class _ScrapeTimeGauges(Collector):
    """Read when scraped, not recorded: the readiness checks (as /readyz) and
    the last clean verify, from the database, so no command has to report it."""

    def __init__(
        self,
        checks: Mapping[str, Check],
        verify_status: VerifyStatus,
        replicas: Replicas | None = None,
    ):
        self._checks = checks
        self._verify_status = verify_status
        self._replicas = replicas

    def collect(self) -> Iterator[Metric]:
        ready = GaugeMetricFamily(
            "kuledger_ready",
            "1 while the readiness check passes (as /readyz reports it), else 0",
            labels=["check"],
        )
        for name, check in self._checks.items():
            ready.add_metric([name], 0 if failure(check) else 1)
        yield ready
        if self._replicas is not None:
            yield from _replica_gauges(self._replicas())
        try:
            last_ok_ms, accounts = self._verify_status()
        except Exception as exc:  # the database is down: kuledger_ready says so
            log.warning(
                "cannot read the verify checkpoints: %s", hide_password(str(exc))
            )
            return
        yield GaugeMetricFamily(
            "kuledger_verify_last_ok_timestamp_seconds",
            "When the last clean `kuledger verify` stored its checkpoints "
            "(Unix time; 0 if none ever did)",
            value=(last_ok_ms or 0) / 1000,
        )
        yield GaugeMetricFamily(
            "kuledger_verify_checkpointed_accounts",
            "Accounts with a verify checkpoint",
            value=accounts,
        )


def _replica_gauges(replicas: Mapping[str, Mapping[str, Any]]) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "kuledger_replica_up",
        "1 while the read replica is in rotation, else 0 (down, lagging or "
        "not yet polled)",
        labels=["replica", "address"],
    )
    lag = GaugeMetricFamily(
        "kuledger_replica_lag_seconds",
        "How far the read replica's replay is behind the primary, as last polled",
        labels=["replica", "address"],
    )
    for name, replica in replicas.items():
        labels = [name, str(replica["address"])]
        up.add_metric(labels, 1 if replica["state"] == "up" else 0)
        if replica["lag_ms"] is not None:
            lag.add_metric(labels, float(replica["lag_ms"]) / 1000)
    yield up
    yield lag


class _ThisProcess(Collector):
    """This process's metrics (one worker: the API runs in this process)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def forget_dead_workers(directory: str) -> None:
    """Drop the WebSocket gauge of workers that are gone (crashed or replaced):
    their counters and histograms still count, their open connections do not.
    Run in the server process, whose children the workers are."""
    alive = {p.pid for p in multiprocessing.active_children()}
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        pid = int(path.rsplit("_", 1)[1].removesuffix(".db"))
        if pid not in alive and pid != os.getpid():
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def create_monitoring_app(
    checks: Mapping[str, Check],
    verify_status: VerifyStatus,
    multiprocess_dir: str | None = None,
    *,
    replicas: Replicas | None = None,
) -> Starlette:
    """/healthz, /readyz and /metrics. With `multiprocess_dir`, /metrics adds up
    the files every worker writes there; without, it reads this process's.
    `replicas`: the read replicas' states, shown by /readyz and /metrics (a
    replica out of rotation does not make the node unready: its reads go to
    the primary)."""
    registry = CollectorRegistry()
    if multiprocess_dir is None:
        registry.register(_ThisProcess())
    else:
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
    registry.register(_ScrapeTimeGauges(checks, verify_status, replicas))

    def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    def readyz(_: Request) -> Response:
        problems = {name: failure(check) for name, check in checks.items()}
        ready = not any(problems.values())
        body: dict[str, Any] = {
            "ready": ready,
            "checks": {name: p or "ok" for name, p in problems.items()},
        }
        if replicas is not None:
            body["replicas"] = replicas()
        return JSONResponse(body, status_code=200 if ready else 503)

    def metrics(_: Request) -> Response:
        if multiprocess_dir is not None:
            forget_dead_workers(multiprocess_dir)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # Plain functions: Starlette runs them in a thread, so a slow database
    # holds up a probe, never the listener's event loop.
    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )
