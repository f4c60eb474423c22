"""The private WebSocket's connect token (KuCoin's "bullet")."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException

from kuledger.domain.users import Permission
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import BOOLEAN, INTEGER, STRING, array, obj
from kuledger.http.routing import Endpoint
from kuledger.http.stream import WS_PATH, StreamServices


def ws_endpoint(stream: StreamServices, base_url: str) -> str:
    """The configured public URL, else ws(s):// on the host the client called."""
    if stream.public_url:
        return stream.public_url
    scheme, _, rest = base_url.partition("://")
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{ws_scheme}://{rest.rstrip('/')}{WS_PATH}"


def apply_private_token(call: Call) -> dict[str, Any]:
    stream = call.services.stream
    if stream is None:
        raise HTTPException(404)  # an app built without the balance stream
    assert call.principal is not None
    endpoint = ws_endpoint(stream, call.base_url)
    return {
        "token": stream.tokens.issue(call.uid, call.principal.key),
        "instanceServers": [
            {
                "endpoint": endpoint,
                "encrypt": endpoint.startswith("wss:"),
                "protocol": "websocket",
                "pingInterval": stream.ping_interval_ms,
                "pingTimeout": stream.ping_timeout_ms,
            }
        ],
    }


INSTANCE_SERVER = obj(
    endpoint=STRING,
    encrypt=BOOLEAN,
    protocol=STRING,
    pingInterval=INTEGER,
    pingTimeout=INTEGER,
)

ENDPOINTS = (
    Endpoint(
        "POST",
        "/api/v1/bullet-private",
        apply_private_token,
        "Get Private Token - Spot/Margin (WebSocket)",
        permission=Permission.GENERAL,
        pool="Spot",
        weight=10,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470295",
        response=obj(token=STRING, instanceServers=array(INSTANCE_SERVER)),
    ),
)
