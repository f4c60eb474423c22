"""The operator API in process, beside the KuCoin app over the same database,
and every answer checked against the operator API's OpenAPI document."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from anyio.from_thread import start_blocking_portal
from starlette.types import ASGIApp

from kuledger.bootstrap import (
    Container,
    build_app,
    build_balance_stream,
    build_operator_app,
)
from kuledger.config import Settings
from kuledger.http.operator.app import openapi_document
from kuledger.http.stream import BalanceHub
from tests.support.inprocess import BASE_URL, InProcessCli, PortalTransport
from tests.support.server import database_env

PREFIX = "/operator/v1"
DOCUMENT = openapi_document()


def _pattern(template: str) -> re.Pattern[str]:
    # The last segment of operations/{uid}/{id} may hold slashes ({id:path}).
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join(
        ("(.+)" if p == "{id}" else "([^/]+)") if p.startswith("{") else re.escape(p)
        for p in parts
    )
    return re.compile(regex)


_PATTERNS = {path: _pattern(path) for path in DOCUMENT["paths"]}


def template_of(method: str, path: str) -> str:
    """The document's path (less PREFIX) that `method path` was served by."""
    for template, pattern in _PATTERNS.items():
        if pattern.fullmatch(path) and method.lower() in DOCUMENT["paths"][template]:
            return template[len(PREFIX) :]
    raise AssertionError(f"{method} {path} is not in the document")


class CheckedTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Checks every answer of a sync or async transport against the document."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def _check(self, request: httpx.Request, response: httpx.Response) -> None:
        path = request.url.path
        if path != f"{PREFIX}/openapi.json":
            check(template_of(request.method, path), request.method, response)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        response.read()
        self._check(request, response)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        await response.aread()
        self._check(request, response)
        return response


def check(template: str, method: str, response: httpx.Response) -> None:
    """Fail unless the answer is what the document says `method template`
    answers with this status."""
    operation = DOCUMENT["paths"][PREFIX + template][method.lower()]
    declared = operation["responses"].get(str(response.status_code))
    assert declared is not None, f"{method} {template}: undeclared {response}"
    schema = declared["content"]["application/json"]["schema"]
    root = {**schema, "components": DOCUMENT["components"]}
    jsonschema.Draft202012Validator(root).validate(response.json())


@dataclass
class OperatorApi:
    """The operator API (`http`) and the KuCoin API (`kucoin`) of one database."""

    cli: InProcessCli
    container: Container
    http: httpx.Client
    kucoin: httpx.Client
    audit: io.StringIO
    app: ASGIApp  # the operator app, for clients that bring their own transport
    hub: BalanceHub  # the KuCoin app's balance stream, in this process
    unchecked: httpx.Client  # the operator listener, answers not checked
    tokens: dict[str, str] = field(default_factory=dict)

    def new_client(self) -> httpx.Client:
        """A client of the operator app of its own (for another thread)."""
        return httpx.Client(transport=self.http._transport)

    def token(self, scopes: str = "post,read,admin") -> str:
        """A token with these scopes (one per set of scopes, made once)."""
        if scopes not in self.tokens:
            name = f"test-{scopes.replace(',', '-')}"
            out = self.cli.json(
                "operator-token", "create", "--name", name, "--scope", scopes, "--json"
            )
            self.tokens[scopes] = out["token"]
        return self.tokens[scopes]

    def call(
        self,
        method: str,
        template: str,
        *,
        token: str | None = "",
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        **path: str,
    ) -> httpx.Response:
        """`method PREFIX+template` with the path's {names} filled from
        `path`, as the full-scope token unless `token` says otherwise (None:
        no Authorization header); the answer checked against the document."""
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token or self.token()}"
        url = BASE_URL + PREFIX + template.format(**path)
        response = self.http.request(
            method, url, json=json, content=content, headers=all_headers, params=params
        )
        check(template, method, response)  # (the transport checked the path too)
        return response

    def ok(self, method: str, template: str, **kwargs: Any) -> Any:
        response = self.call(method, template, **kwargs)
        body = response.json()
        assert response.status_code == 200 and body["code"] == "200000", body
        return body["data"]

    def post(self, operation: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = self.ok("POST", "/operations", json=operation)
        return data

    def balance(self, uid: str, type_: str = "main", currency: str = "USDT") -> str:
        data = self.ok("GET", "/users/{uid}/accounts", uid=uid)
        for account in data["accounts"]:
            if account["type"] == type_ and account["currency"] == currency:
                return str(account["balance"])
        return "0"

    def user(self, uid: str) -> str:
        self.ok("POST", "/users", json={"uid": uid})
        return uid


def initialized(
    env: dict[str, str], stack: ExitStack
) -> tuple[InProcessCli, Container, io.StringIO]:
    """`kuledger init` on env's database; its container, and the audit lines
    written until `stack` closes."""
    cli = InProcessCli(env)
    cli.run("init")
    audit = io.StringIO()
    handler = logging.StreamHandler(audit)
    logger = logging.getLogger("kuledger.audit")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    stack.callback(logger.removeHandler, handler)
    container = Container(Settings.from_env(env))
    stack.callback(container.close)
    return cli, container, audit


@contextmanager
def operator_api(
    database_url: str, workdir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[OperatorApi]:
    env = {**database_env(database_url, workdir), **(extra_env or {})}
    with ExitStack() as stack:
        cli, container, audit = initialized(env, stack)
        stream = build_balance_stream(container)
        kucoin_app = build_app(container, stream)
        operator_app = build_operator_app(container, stream[0])
        portal = stack.enter_context(start_blocking_portal())
        stack.enter_context(
            portal.wrap_async_context_manager(
                kucoin_app.router.lifespan_context(kucoin_app)
            )
        )
        http = httpx.Client(
            transport=CheckedTransport(PortalTransport(operator_app, portal))
        )
        kucoin = httpx.Client(transport=PortalTransport(kucoin_app, portal))
        unchecked = httpx.Client(transport=PortalTransport(operator_app, portal))
        for client in (http, kucoin, unchecked):
            stack.callback(client.close)
        hub = stream[1].hub
        yield OperatorApi(
            cli, container, http, kucoin, audit, operator_app, hub, unchecked
        )
