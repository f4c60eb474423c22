"""create_explorer_app: the web ledger explorer, mounted on the operator
listener (at /explorer). Pages are server-rendered (Jinja2, autoescaped);
the one script (the balance chart) and the style sheet are package data
under /static, so nothing is loaded from elsewhere, and the Content
Security Policy says so. Each answer carries `Server-Timing: app;dur=<ms>`,
the time the server spent on it (the benchmark reads it)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from kuledger.http.explorer import login, pages
from kuledger.http.explorer.params import BadParameter, form_fields, when
from kuledger.http.explorer.session import COOKIE, Sessions, Viewer, csrf_ok
from kuledger.services.ports import SecretBox

MAX_BODY = 8 * 1024
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; "
    "style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class RecordBase:
    """Records where the explorer is mounted (`explorer_base`, the start of
    its links) before a Mount inside it (/static) extends root_path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["explorer_base"] = scope.get("root_path", "")
        await self.app(scope, receive, send)


def explorer_base(request: Request) -> str:
    return str(getattr(request.state, "explorer_base", request.scope["root_path"]))


def session_key(box: SecretBox) -> bytes:
    """Derived from the server's secret key, so every worker process accepts
    every other's cookies; a box that derives nothing (a test's) gets a key
    of this process alone."""
    derive = getattr(box, "derive_key", None)
    return derive("explorer-session") if derive else secrets.token_bytes(32)


class Explorer:
    def __init__(self, services: pages.Services) -> None:
        assert services.explorer is not None
        self.reads = pages.Reads(services, services.explorer)
        self.services = services
        self.sessions = Sessions(session_key(services.box))
        self.templates = Environment(
            loader=PackageLoader("kuledger.http.explorer", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["when"] = when

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        status: int = 200,
    ) -> Response:
        base = explorer_base(request)
        html = self.templates.get_template(template).render(
            base=base, viewer=getattr(request.state, "viewer", None), **context
        )
        return HTMLResponse(html, status, headers=HEADERS)

    def viewer(self, request: Request) -> Viewer | None:
        """The session's viewer, while its token or key is still good."""
        found = self.sessions.read(request.cookies.get(COOKIE))
        if found is None:
            return None
        if found.is_operator:
            good = login.token_active(self.services.tokens, found.credential)
        else:
            good = login.key_active(self.services.reader, found.credential, found.uid)
        return found if good else None


def _timed(handler: Callable[[Request], Awaitable[Response]]) -> Any:
    async def timed(request: Request) -> Response:
        began = time.perf_counter()
        response = await handler(request)
        elapsed = (time.perf_counter() - began) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed:.2f}"
        return response

    return timed


def _page(x: Explorer, page: pages.Page) -> Any:
    @_timed
    async def endpoint(request: Request) -> Response:
        base = request.scope.get("root_path", "")
        viewer = await run_in_threadpool(x.viewer, request)
        if viewer is None:
            target = request.url.path + (
                f"?{request.url.query}" if request.url.query else ""
            )
            return RedirectResponse(
                f"{base}/login?next={_quote(target)}", 303, headers=HEADERS
            )
        request.state.viewer = viewer
        request.state.token = viewer.audit_name  # the audit log's "who"
        req = pages.PageRequest(request.path_params, dict(request.query_params), viewer)
        try:
            result = await run_in_threadpool(page, x.reads, req)
        except pages.Missing:
            return x.render(request, "error.html", {"message": "Not found."}, 404)
        except BadParameter as exc:
            return x.render(request, "error.html", {"message": str(exc)}, 400)
        if isinstance(result, pages.Redirect):
            return RedirectResponse(base + result.to, 303, headers=HEADERS)
        if isinstance(result, pages.Json):
            return Response(
                orjson.dumps(result.data),
                media_type="application/json",
                headers=HEADERS,
            )
        return x.render(request, result.template, result.context, result.status)

    return endpoint


def _quote(path: str) -> str:
    return quote(path, safe="")


class CrossSite(BadParameter):
    """A form posted from another site."""


def _safe_next(base: str, target: str | None) -> str:
    """Only a path of the explorer itself: never another site (open redirect)."""
    if target and target.startswith(base + "/") and not target.startswith("//"):
        return target
    return base + "/"


def _cross_site(request: Request) -> bool:
    """A form posted from another site's page (its browser says so in Origin):
    refused, so no site can log a visitor in to an account of its choosing or
    out of theirs. Clients that send no Origin (not a browser) pass."""
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc != request.headers.get("host", "")


async def _form(request: Request) -> dict[str, str]:
    if _cross_site(request):
        raise CrossSite()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise BadParameter("the form is too large")
    return form_fields(body)


def _login_page(x: Explorer) -> Any:
    @_timed
    async def endpoint(request: Request) -> Response:
        return x.render(
            request, "login.html", {"next": request.query_params.get("next", "")}
        )

    return endpoint


def _login(x: Explorer, kind: str) -> Any:
    @_timed
    async def endpoint(request: Request) -> Response:
        base = request.scope.get("root_path", "")
        try:
            fields = await _form(request)
            if kind == "operator":
                token = await run_in_threadpool(
                    login.operator_login, x.services.tokens, fields.get("token", "")
                )
                _, cookie = x.sessions.open(
                    "operator", token.name, None, token.token_hash
                )
                request.state.token = f"explorer:{token.name}"
            else:
                credentials = login.KeyLogin(
                    fields.get("key", "").strip(),
                    fields.get("secret", "").strip(),
                    fields.get("passphrase", ""),
                )
                peer = request.client.host if request.client else None
                key = await run_in_threadpool(
                    login.key_login,
                    x.services.reader,
                    x.services.box,
                    credentials,
                    peer,
                )
                _, cookie = x.sessions.open("user", key.key, key.uid, key.key)
                request.state.token = f"explorer:{key.uid}"
        except CrossSite:
            return x.render(request, "error.html", {"message": "Forbidden."}, 403)
        except (login.LoginRefused, BadParameter) as exc:
            context = {"error": str(exc), "next": request.query_params.get("next", "")}
            return x.render(request, "login.html", context, 401)
        response = RedirectResponse(
            _safe_next(base, request.query_params.get("next")), 303, headers=HEADERS
        )
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=x.sessions.max_age_s,
            path=base or "/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    return endpoint


def _logout(x: Explorer) -> Any:
    @_timed
    async def endpoint(request: Request) -> Response:
        base = request.scope.get("root_path", "")
        viewer = x.sessions.read(request.cookies.get(COOKIE))
        try:
            fields = await _form(request)
        except CrossSite:
            return x.render(request, "error.html", {"message": "Forbidden."}, 403)
        except BadParameter:
            fields = {}
        if viewer is not None and not csrf_ok(viewer, fields.get("csrf")):
            return x.render(request, "error.html", {"message": "Forbidden."}, 403)
        response = RedirectResponse(f"{base}/login", 303, headers=HEADERS)
        response.delete_cookie(
            COOKIE, path=base or "/", httponly=True, samesite="strict"
        )
        return response

    return endpoint


# What the error page says for Starlette's own refusals (others: the status).
REFUSALS = {404: "Not found.", 405: "Method not allowed."}


def _refused(x: Explorer) -> Callable[[Request, Exception], Awaitable[Response]]:
    """An unknown path, a wrong method (Starlette's HTTPException): the
    explorer's error page, in its layout, with the exception's headers
    (a 405's Allow)."""

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        viewer = await run_in_threadpool(x.viewer, request)
        if viewer is not None:
            request.state.viewer = viewer
            request.state.token = viewer.audit_name
        status = exc.status_code
        message = REFUSALS.get(status) or f"{HTTPStatus(status).phrase}."
        response = x.render(request, "error.html", {"message": message}, status)
        response.headers.update(exc.headers or {})
        return response

    return handler


def create_explorer_app(services: pages.Services) -> Starlette:
    if services.explorer is None:  # no explorer queries given: nothing to show
        return Starlette(routes=[])
    x = Explorer(services)
    routes: list[BaseRoute] = [
        Route("/", _page(x, pages.home)),
        Route("/login", _login_page(x)),
        Route("/login/operator", _login(x, "operator"), methods=["POST"]),
        Route("/login/key", _login(x, "key"), methods=["POST"]),
        Route("/logout", _logout(x), methods=["POST"]),
        Route("/users", _page(x, pages.users)),
        Route("/users/{uid}", _page(x, pages.user)),
        Route("/users/{uid}/account", _page(x, pages.user_account)),
        Route("/accounts/{account_id}", _page(x, pages.account)),
        Route("/accounts/{account_id}/balance.json", _page(x, pages.balance_json)),
        Route("/operations/{uid}/{op_id:path}", _page(x, pages.operation_page)),
        Route("/verify", _page(x, pages.verify)),
        Mount("/static", StaticFiles(packages=[("kuledger.http.explorer", "static")])),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(RecordBase)],
        exception_handlers={HTTPException: _refused(x)},
    )
