"""create_app: the Starlette application, its routes and middleware."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from kuledger.http.access_log import AccessLogMiddleware
from kuledger.http.auth import AuthError, Principal, SignedRequest, client_ip
from kuledger.http.body import read_body
from kuledger.http.context import ApiServices, Call
from kuledger.http.endpoints import ENDPOINTS
from kuledger.http.envelope import Envelope, ok
from kuledger.http.errors import BodyTooLarge, error_response
from kuledger.http.monitoring import RequestMetrics
from kuledger.http.openapi import openapi_document
from kuledger.http.pending import Pending, settle
from kuledger.http.routing import Endpoint
from kuledger.http.stream import WS_PATH
from kuledger.http.ws_private import private_stream
from kuledger.services.operator import Outcome
from kuledger.services.ratelimit import MemoryLimiter

log = logging.getLogger("kuledger.http")
MAX_BODY_BYTES = 64 * 1024


def create_app(services: ApiServices) -> Starlette:
    trusted = tuple(
        p.strip() for p in services.settings.trusted_proxies.split(",") if p.strip()
    )
    # Literal paths first: /api/v1/accounts/transferable must not be taken
    # for /api/v1/accounts/{accountId}.
    ordered = sorted(ENDPOINTS, key=lambda e: "{" in e.path)
    routes: list[BaseRoute] = [
        Route(e.path, _asgi_endpoint(e, services, trusted), methods=[e.method])
        for e in ordered
    ]
    document = openapi_document(ENDPOINTS)
    routes.append(Route("/openapi.json", lambda _: ok_raw(document), methods=["GET"]))
    if services.stream is not None:
        routes.append(WebSocketRoute(WS_PATH, private_stream(services)))
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _error, Exception: _error},
        lifespan=_thread_limit(services.settings.threads),
    )
    monitored = services.settings.monitoring
    app.add_middleware(
        AccessLogMiddleware, metrics=RequestMetrics() if monitored else None
    )
    return app


def _thread_limit(threads: int) -> Any:
    """Bound the worker threads that run database work: beyond a few per core
    they only queue, and on SQLite each one holds its own read connection."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(1, threads)
        yield

    return lifespan


def ok_raw(document: dict[str, Any]) -> Response:
    import orjson

    return Response(orjson.dumps(document), media_type="application/json")


async def _error(request: Request, exc: Exception) -> Response:
    response = error_response(exc)
    request.state.kucoin_code = response.code
    return response


def runs_inline(endpoint: Endpoint, services: ApiServices) -> bool:
    """Whether the endpoint's work runs on the event loop: an inline read (see
    Endpoint.inline) where the database's round trips are short
    (services.inline_reads), with a limiter kept in this process. Everything
    else (writes, which may wait for SQLite's write lock or for PostgreSQL's
    row locks; a Redis limiter, which waits on the network) keeps its thread."""
    policy = services.ratelimit
    return (
        endpoint.inline
        and services.inline_reads
        and (policy is None or isinstance(policy.limiter, MemoryLimiter))
    )


def _asgi_endpoint(
    endpoint: Endpoint, services: ApiServices, trusted: tuple[str, ...]
) -> Any:
    inline = runs_inline(endpoint, services)
    policy = services.ratelimit
    weight = (
        endpoint.weight
        if policy is None
        else policy.weight_of(endpoint.method, endpoint.path, endpoint.weight)
    )

    async def asgi_endpoint(request: Request) -> Response:
        body = b""
        if endpoint.method in ("POST", "PUT"):
            try:
                body = await read_body(
                    request.receive,
                    MAX_BODY_BYTES,
                    request.headers.get("content-length"),
                )
            except BodyTooLarge as exc:
                return await _error(request, exc)
        peer = request.client.host if request.client else None
        call_ip = client_ip(peer, request.headers.get("x-forwarded-for"), trusted)
        if inline:
            answer, uid = _handle(endpoint, weight, services, request, body, call_ip)
        else:
            answer, uid = await run_in_threadpool(
                _handle, endpoint, weight, services, request, body, call_ip
            )
        # A queued write is awaited here, on the loop (see http/pending.py).
        response = await settle(answer) if isinstance(answer, Pending) else answer
        request.state.uid = uid
        request.state.kucoin_code = response.code
        return response

    return asgi_endpoint


def _handle(
    endpoint: Endpoint,
    weight: int,
    services: ApiServices,
    request: Request,
    body: bytes,
    call_ip: str | None,
) -> tuple[Envelope | Pending[Envelope], str | None]:
    """Authenticate, charge `weight` to the rate-limit pool and run the handler,
    in a worker thread (all three may touch the database or Redis), or on the
    event loop for an inline read (see runs_inline); a handler that queued a
    write (Pending) is answered once the endpoint awaited it."""
    uid = None
    limit_headers: dict[str, str] = {}
    try:
        principal = None
        if endpoint.signed:
            principal = _authenticate(endpoint, services, request, body, call_ip)
            uid = principal.uid
        policy = services.ratelimit
        if policy is not None:
            # Private pools count per uid, Public per client IP.
            subject, vip_level = (
                (principal.uid, principal.vip_level)
                if principal is not None
                else (f"ip:{call_ip}", 0)
            )
            limit_headers = policy.charge(
                endpoint.pool, weight, subject, vip_level, services.clock()
            )
        call = Call(
            services,
            principal,
            request.query_params,
            dict(request.path_params),
            body,
            call_ip,
            request.headers.get("content-type"),
            lambda: str(request.base_url),
        )
        data = endpoint.handler(call)
        if isinstance(data, Pending):
            return Pending(data.future, _reply_later(data, limit_headers)), uid
        return ok(data, limit_headers), uid
    except Exception as exc:  # every failure gets the envelope; see errors.py
        return _failed(exc, limit_headers), uid


def _reply_later(
    pending: Pending[Any], limit_headers: dict[str, str]
) -> Callable[[Future[list[Outcome]]], Envelope]:
    """The pending handler's answer as the envelope, with the rate-limit
    headers charged before the write."""

    def reply(done: Future[list[Outcome]]) -> Envelope:
        try:
            return ok(pending.answer(done), limit_headers)
        except Exception as exc:  # every failure gets the envelope; see errors.py
            return _failed(exc, limit_headers)

    return reply


def _failed(exc: Exception, limit_headers: dict[str, str]) -> Envelope:
    response = error_response(exc)
    for name, value in limit_headers.items():
        response.headers.setdefault(name, value)
    return response


def _authenticate(
    endpoint: Endpoint,
    services: ApiServices,
    request: Request,
    body: bytes,
    call_ip: str | None,
) -> Principal:
    """The caller, or AuthError; a failure is charged to the client IP's Public
    quota (RateLimited once that is spent: guessing is not free)."""
    policy = services.ratelimit
    if policy is not None:
        policy.admit_signed(call_ip, services.clock())
    try:
        return services.authenticator.authenticate(
            _signed_parts(request, body, call_ip), endpoint.permission
        )
    except AuthError as exc:
        if policy is not None:
            exc.headers = policy.charge_failure(call_ip, services.clock())
        raise


def _signed_parts(request: Request, body: bytes, call_ip: str | None) -> SignedRequest:
    return SignedRequest(
        headers={
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in request.scope["headers"]
        },
        method=request.method,
        raw_path=request.scope.get("raw_path", b"").decode("latin-1")
        or request.url.path,
        query_string=request.scope.get("query_string", b"").decode("latin-1"),
        body=body.decode("utf-8", errors="surrogateescape"),
        client_ip=call_ip,
    )
