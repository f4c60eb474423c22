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

import glob
import logging
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

log = logging.getLogger("kuledger.monitoring")

# -- What the API's processes record ------------------------------------------

# No *_created series: multiprocess mode has none, so neither has one worker.
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "kuledger_http_requests",
    "API requests answered, by endpoint, HTTP status and KuCoin code",
    ["endpoint", "status", "code"],
)
LATENCY = Histogram(
    "kuledger_http_request_duration_seconds",
    "Time from a request's arrival to its response's last byte, by endpoint",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
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

RATE_LIMITED_CODE = "429000"
OTHER = "other"  # the endpoint label of a request that matched no route
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))


class RequestMetrics:
    """Records one answered request. The labelled children are looked up once
    per (route, method, status, code): labels() costs more than the inc."""

    def __init__(self) -> None:
        self._children: dict[tuple[Any, str, int, str], tuple[Any, ...]] = {}
        self._names: dict[tuple[Any, str], str] | None = None

    def request(
        self, scope: Mapping[str, Any], status: int, code: str | None, seconds: float
    ) -> None:
        count, latency, refused = self._labelled(scope, status, code)
        count.inc()
        latency.observe(seconds)
        if refused is not None:
            refused.inc()

    def _labelled(
        self, scope: Mapping[str, Any], status: int, code: str | None
    ) -> tuple[Any, ...]:
        method = scope["method"]
        if method not in _METHODS:  # any token is a method: keep the keys bounded
            method = OTHER
        key = (scope.get("endpoint"), method, status, code or "")
        found = self._children.get(key)
        if found is None:
            endpoint = self._endpoint(scope, key[0], method)
            found = (
                REQUESTS.labels(endpoint, str(status), key[3]),
                LATENCY.labels(endpoint),
                RATE_LIMITED.labels(endpoint) if key[3] == RATE_LIMITED_CODE else None,
            )
            self._children[key] = found
        return found

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


def failure(check: Check) -> str | None:
    """None if the check passes, else what went wrong (no URL password)."""
    try:
        check()
    except Exception as exc:
        return hide_password(f"{type(exc).__name__}: {exc}")[:300]
    return None


class _ScrapeTimeGauges(Collector):
    """Read when scraped, not recorded: the readiness checks (as /readyz) and
    the last clean verify, from the database, so no command has to report it."""

    def __init__(self, checks: Mapping[str, Check], verify_status: VerifyStatus):
        self._checks = checks
        self._verify_status = verify_status

    def collect(self) -> Iterator[Metric]:
        ready = GaugeMetricFamily(
            "kuledger_ready",
            "1 while the readiness check passes (as /readyz reports it), else 0",
            labels=["check"],
        )
        for name, check in self._checks.items():
            ready.add_metric([name], 0 if failure(check) else 1)
        yield ready
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
) -> Starlette:
    """/healthz, /readyz and /metrics. With `multiprocess_dir`, /metrics adds up
    the files every worker writes there; without, it reads this process's."""
    registry = CollectorRegistry()
    if multiprocess_dir is None:
        registry.register(_ThisProcess())
    else:
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
    registry.register(_ScrapeTimeGauges(checks, verify_status))

    def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    def readyz(_: Request) -> Response:
        problems = {name: failure(check) for name, check in checks.items()}
        ready = not any(problems.values())
        return JSONResponse(
            {
                "ready": ready,
                "checks": {name: p or "ok" for name, p in problems.items()},
            },
            status_code=200 if ready else 503,
        )

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
