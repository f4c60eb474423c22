"""The only two JSON shapes kuledger answers with: KuCoin's envelopes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

SUCCESS = "200000"


def ok(data: Any, headers: Mapping[str, str] | None = None) -> Response:
    """HTTP 200 {"code":"200000","data":...}."""
    body = orjson.dumps({"code": SUCCESS, "data": data})
    return Response(body, 200, headers, media_type="application/json")


def fail(
    code: str, msg: str, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """{"code":"<code>","msg":"<text>"}; parameter errors stay HTTP 200 (KuCoin)."""
    body = orjson.dumps({"code": code, "msg": msg})
    return Response(body, status, headers, media_type="application/json")
