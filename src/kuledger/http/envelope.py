"""The only two JSON shapes kuledger answers with: KuCoin's envelopes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

SUCCESS = "200000"


class Envelope(Response):
    """A KuCoin envelope that keeps its `code` for the access log."""

    media_type = "application/json"

    def __init__(
        self, code: str, body: bytes, status: int, headers: Mapping[str, str] | None
    ) -> None:
        self.code = code
        super().__init__(body, status, headers)


def ok(data: Any, headers: Mapping[str, str] | None = None) -> Envelope:
    """HTTP 200 {"code":"200000","data":...}."""
    body = orjson.dumps({"code": SUCCESS, "data": data})
    return Envelope(SUCCESS, body, 200, headers)


def fail(
    code: str, msg: str, status: int = 200, headers: Mapping[str, str] | None = None
) -> Envelope:
    """{"code":"<code>","msg":"<text>"}; parameter errors stay HTTP 200 (KuCoin)."""
    body = orjson.dumps({"code": code, "msg": msg})
    return Envelope(code, body, status, headers)
