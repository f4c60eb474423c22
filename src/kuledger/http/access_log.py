"""One JSON access-log line per request. Never a secret, signature or passphrase."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("kuledger.access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
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
            state: dict[str, Any] = scope.get("state", {})
            log.info(
                json.dumps(
                    {
                        "time": round(time.time(), 3),
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "code": state.get("kucoin_code"),
                        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                        "uid": state.get("uid"),
                        "client": (scope.get("client") or [None])[0],
                    },
                    separators=(",", ":"),
                )
            )
