"""Public endpoints: server time and status."""

from __future__ import annotations

from typing import Any

from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import INTEGER, STRING, obj
from kuledger.http.routing import Endpoint


def get_server_time(call: Call) -> int:
    return call.services.clock()


def get_service_status(_call: Call) -> dict[str, Any]:
    return {"status": "open", "msg": ""}


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/timestamp",
        get_server_time,
        "Get Server Time",
        permission=None,
        pool="Public",
        weight=3,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470156",
        response=INTEGER,
    ),
    Endpoint(
        "GET",
        "/api/v1/status",
        get_service_status,
        "Get Service Status",
        permission=None,
        pool="Public",
        weight=3,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470158",
        response=obj(status=STRING, msg=STRING),
    ),
)
