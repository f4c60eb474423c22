"""The hot write endpoints (POST operations and operations:batch, marked
`hot` in the endpoint table) served on the raw ASGI scope, ahead of
Starlette, where the writer batches (group commit).

Under load from many clients the stack around a single transfer cost the
worker more than the transfer: two Starlette applications (the listener's,
with /metrics, and the operator API's), their middleware and Request
objects, and a worker thread for the token's database read. Here a request
is read, authenticated from the TokenCache (the writer checks the token
again once a batch, http/operator/auth.py), handled, answered and
audit-logged on the event loop, with the same handler, envelopes and audit
line as the Starlette path. Everything else goes to that path, and so does
every request where the writer does not batch (its writes would block the
event loop)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from kuledger.http.body import read_body
from kuledger.http.envelope import Envelope
from kuledger.http.errors import error_response
from kuledger.http.operator.app import (
    MAX_BODY_BYTES,
    audit_call,
    authorized,
    settled,
    tls_of,
)
from kuledger.http.operator.auth import TokenCache, identify
from kuledger.http.operator.endpoints import (
    OpCall,
    OperatorEndpoint,
    OperatorServices,
)
from kuledger.http.pending import Pending
from kuledger.services import operator
from kuledger.services.operator_tokens import OperatorToken


class HotWrites:
    """ASGI: the hot endpoints of `endpoints` served here, the rest by `app`."""

    def __init__(
        self,
        app: ASGIApp,
        services: OperatorServices,
        endpoints: Sequence[OperatorEndpoint],
    ) -> None:
        self.app = app
        self._services = services
        self.tokens = TokenCache(services.tokens)
        batching = operator.batching(services.write)
        self._routes = {
            e.path: e for e in endpoints if e.hot and e.method == "POST" and batching
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = None
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self._routes.get(scope["path"])
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = {}
        status = 500
        try:
            response = await self._answer(endpoint, scope, receive, state)
            state["kucoin_code"] = response.code
            status = response.status_code
            await response(scope, receive, send)
        finally:
            audit_call(scope, state, status, started)

    async def _answer(
        self,
        endpoint: OperatorEndpoint,
        scope: Scope,
        receive: Receive,
        state: dict[str, Any],
    ) -> Envelope:
        authorization = content_type = content_length = None
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"content-type" and content_type is None:
                content_type = value.decode("latin-1")
            elif name == b"content-length" and content_length is None:
                content_length = value.decode("latin-1")
        call = OpCall(
            self._services,
            None,
            {},
            QueryParams(scope.get("query_string", b"")),
            b"",
            content_type,
        )
        state["ops"], state["codes"] = call.ops, call.codes
        try:
            call.body = await read_body(receive, MAX_BODY_BYTES, content_length)
            call.token = await self._token(scope, authorization, call)
        except Exception as exc:  # every failure gets the envelope; see errors.py
            return error_response(exc)
        state["token"] = call.token.name
        answer = authorized(endpoint, call)
        return await settled(answer) if isinstance(answer, Pending) else answer

    async def _token(
        self, scope: Scope, authorization: str | None, call: OpCall
    ) -> OperatorToken:
        """The call's token: from the cache (and the writer checks it before
        the batch), else read as the Starlette path reads it, in a thread."""
        token = self.tokens.get(authorization)
        if token is not None:
            call.check = self.tokens.check(token)
            return token
        cn = tls_of(scope).get("client_cert_cn")
        token = await run_in_threadpool(
            identify, self._services.tokens, authorization, cn
        )
        if authorization:  # a certificate's token is read every time
            self.tokens.add(token)
        return token
