"""The operator API's application, its OpenAPI document and audit log, and
`by_port`, which hands each connection to the application of its listener.

Why one server with two sockets, routed by port, and not a second server:
`kuledger serve --workers N` then serves the operator API from every worker
process (uvicorn's Multiprocess shares all the sockets it is given), with the
same database pools and thread limit, and nothing else to start, stop or
supervise. The KuCoin application never sees an operator path: a connection
to its port is routed to it whatever the path says.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kuledger import __version__
from kuledger.http.body import read_body
from kuledger.http.envelope import Envelope, ok
from kuledger.http.errors import KUCOIN_ERRORS, BodyTooLarge, error_response
from kuledger.http.explorer import create_explorer_app
from kuledger.http.openapi import ERROR
from kuledger.http.operator import funding
from kuledger.http.operator.auth import identify, require
from kuledger.http.operator.endpoints import (
    ENDPOINTS,
    PREFIX,
    OpCall,
    OperatorEndpoint,
    OperatorServices,
)
from kuledger.http.pending import Pending, settle

audit = logging.getLogger("kuledger.audit")
ROUTES = (*ENDPOINTS, *funding.ENDPOINTS)
MAX_BODY_BYTES = 1024 * 1024  # a full batch of operations fits
OPENAPI_PATH = f"{PREFIX}/openapi.json"


def create_operator_app(services: OperatorServices) -> Starlette:
    routes: list[BaseRoute] = [
        Route(e.path, _asgi_endpoint(e, services), methods=[e.method]) for e in ROUTES
    ]
    document = orjson.dumps(openapi_document())
    routes.append(
        Route(
            OPENAPI_PATH,
            lambda _: Response(document, media_type="application/json"),
            methods=["GET"],
        )
    )
    routes.append(Mount("/explorer", app=create_explorer_app(services)))
    app = Starlette(
        routes=routes, exception_handlers={HTTPException: _error, Exception: _error}
    )
    app.add_middleware(AuditLogMiddleware)
    return app


async def _error(request: Request, exc: Exception) -> Response:
    response = error_response(exc)
    request.state.kucoin_code = response.code
    return response


def _asgi_endpoint(endpoint: OperatorEndpoint, services: OperatorServices) -> Any:
    async def asgi_endpoint(request: Request) -> Response:
        call = OpCall(
            services,
            None,  # set once authorized, in _handle
            dict(request.path_params),
            request.query_params,
            b"",
            request.headers.get("content-type"),
        )
        request.state.ops = call.ops
        request.state.codes = call.codes
        try:
            if endpoint.method in ("POST", "PATCH", "PUT"):
                call.body = await read_body(
                    request.receive,
                    MAX_BODY_BYTES,
                    request.headers.get("content-length"),
                )
            answer = await run_in_threadpool(
                _handle,
                endpoint,
                call,
                request.headers.get("authorization"),
                tls_of(request.scope).get("client_cert_cn"),
            )
            # A queued write is awaited here, on the loop (see http/pending.py).
            response = await settled(answer) if isinstance(answer, Pending) else answer
        except BodyTooLarge as exc:
            response = error_response(exc)
        request.state.kucoin_code = response.code
        request.state.token = call.token.name if call.token is not None else None
        return response

    return asgi_endpoint


def tls_of(scope: Scope) -> dict[str, Any]:
    """ASGI's TLS extension: set on an mTLS listener (http/listener_tls.py)."""
    tls: dict[str, Any] = scope.get("extensions", {}).get("tls") or {}
    return tls


def _handle(
    endpoint: OperatorEndpoint,
    call: OpCall,
    authorization: str | None,
    certificate_cn: str | None = None,
) -> Envelope | Pending[Any]:
    try:
        call.token = identify(call.services.tokens, authorization, certificate_cn)
    except Exception as exc:  # every failure gets the envelope; see errors.py
        return error_response(exc)
    return authorized(endpoint, call)


def authorized(endpoint: OperatorEndpoint, call: OpCall) -> Envelope | Pending[Any]:
    """The answer to a call whose token is known: its scope checked, then
    the handler's data, an error envelope, or a queued write."""
    assert call.token is not None
    try:
        require(call.token, endpoint.scope)
        data = endpoint.handler(call)
        return data if isinstance(data, Envelope | Pending) else ok(data)
    except Exception as exc:  # every failure gets the envelope; see errors.py
        return error_response(exc)


async def settled(pending: Pending[Any]) -> Envelope:
    try:
        data = await settle(pending)
        return data if isinstance(data, Envelope) else ok(data)
    except Exception as exc:  # every failure gets the envelope; see errors.py
        return error_response(exc)


class AuditLogMiddleware:
    """One JSON line per call on `kuledger.audit`: who (the token's name; on
    mTLS, the client certificate's subject too), what
    (method, path, the uid/id of each operation), the HTTP status and KuCoin
    code. Never a token, a body or a secret."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
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
            audit_call(scope, scope.get("state", {}), status, started)


def audit_call(
    scope: Scope, state: dict[str, Any], status: int, started: float
) -> None:
    """The audit line of one call: `state` holds what the handler noted (the
    token's name, the operations, the KuCoin code or codes)."""
    if not audit.isEnabledFor(logging.INFO):
        return
    audit.info(
        orjson.dumps(
            {
                "time": round(time.time(), 3),
                "who": state.get("token"),
                "cert": tls_of(scope).get("client_cert_name"),
                "method": scope["method"],
                "path": scope["path"],
                "ops": state.get("ops") or [],
                "status": status,
                "code": state.get("kucoin_code"),
                "codes": state.get("codes") or None,  # a batch's, in order
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                "client": (scope.get("client") or [None])[0],
            }
        ).decode()
    )


def by_port(default: ASGIApp, port: int, operator_app: ASGIApp) -> ASGIApp:
    """Connections to `port` go to `operator_app`, all others (and the
    lifespan events) to `default`. scope["server"] is the listening socket's
    own address, whatever Host header the client sent."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] != "lifespan" and server and server[1] == port:
            await operator_app(scope, receive, send)
        else:
            await default(scope, receive, send)

    return asgi


# --- the OpenAPI document ------------------------------------------------------------


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"code": {"type": "string", "const": "200000"}, "data": data},
        "required": ["code", "data"],
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _operation(e: OperatorEndpoint) -> dict[str, Any]:
    error = _json({"$ref": "#/components/schemas/Error"})
    responses: dict[str, Any] = {
        "200": {
            "description": "success, or a business error (code other than 200000)",
            **_json(
                {
                    "oneOf": [
                        _envelope(e.response),
                        {"$ref": "#/components/schemas/Error"},
                    ]
                }
            ),
        },
        "400": {"description": "no operator token (400001)", **error},
        "401": {"description": "unknown or revoked token (400003)", **error},
        "403": {
            "description": f"the token lacks the scope {e.scope} (400007)",
            **error,
        },
        "404": {"description": "no such path or record (404000)", **error},
        "405": {"description": "method not allowed (405000)", **error},
        "500": {"description": "internal error (500000)", **error},
    }
    if e.body is not None:
        responses["413"] = {"description": "body over 1 MiB (413000)", **error}
        responses["415"] = {"description": "body not JSON (415000)", **error}
    op: dict[str, Any] = {
        "summary": e.summary,
        "operationId": e.handler.__name__,
        "parameters": list(e.params),
        "responses": responses,
        "security": [{"operatorToken": []}, {"clientCertificate": []}],
        "x-scope": e.scope.value,
    }
    if e.body is not None:
        op["requestBody"] = {"required": True, **_json(e.body)}
    return op


def openapi_path(path: str) -> str:
    """A route's path as OpenAPI spells it: {id:path} is {id}."""
    return path.replace(":path}", "}")


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for e in ROUTES:
        paths.setdefault(openapi_path(e.path), {})[e.method.lower()] = _operation(e)
    paths[OPENAPI_PATH] = {
        "get": {
            "summary": "This document",
            "operationId": "openapi",
            "security": [],
            "responses": {"200": {"description": "the OpenAPI document"}},
        }
    }
    codes = sorted({code for _, code in KUCOIN_ERRORS.values()} | {"500000"})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kuledger operator API",
            "version": __version__,
            "description": "The write side of kuledger as a service (operator-api.md). "
            'Errors come as {"code","msg"}; codes used: ' + ", ".join(codes),
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {
                "operatorToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from `kuledger operator-token create`",
                },
                "clientCertificate": {
                    "type": "mutualTLS",
                    "description": "on an mTLS listener, a client certificate whose "
                    "CN names an active operator token (operator-api.md)",
                },
            },
        },
    }
