"""One JSON access-log line per request, and the request metrics (see
http/monitoring.py). Never a secret, signature or passphrase."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kuledger.http.monitoring import WEBSOCKETS, RequestMetrics

log = logging.getLogger("kuledger.access")


class AccessLogMiddleware:
    """`metrics`: record each request's endpoint, status, KuCoin code and
    latency, and the open WebSocket connections (None: monitoring is off)."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        logged = log.isEnabledFor(logging.INFO)
        if self.metrics is not None and scope["type"] in ("websocket", "lifespan"):
            await self._websocket_or_lifespan(scope, receive, send, self.metrics)
            return
        if scope["type"] != "http" or not (logged or self.metrics):
            await self.app(scope, receive, send)  # no line: no per-request wrapper
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            latency = time.perf_counter() - started
            state: dict[str, Any] = scope.get("state", {})
            code = state.get("kucoin_code")
            if self.metrics is not None:
                self.metrics.request(scope, status, code, latency)
            if logged:
                log.info(
                    json.dumps(
                        {
                            "time": round(time.time(), 3),
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": status,
                            "code": code,
                            "latency_ms": round(latency * 1000, 3),
                            "uid": state.get("uid"),
                            "client": (scope.get("client") or [None])[0],
                        },
                        separators=(",", ":"),
                    )
                )

    async def _websocket_or_lifespan(
        self, scope: Scope, receive: Receive, send: Send, metrics: RequestMetrics
    ) -> None:
        """Count open WebSockets; flush the request tallies at shutdown."""
        accepted = False

        async def send_watched(message: Message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                WEBSOCKETS.inc()
            elif message["type"] == "lifespan.shutdown.complete":
                metrics.flush()
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        finally:
            if accepted:
                WEBSOCKETS.dec()
