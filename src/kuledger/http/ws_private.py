"""The private WebSocket, speaking KuCoin's protocol for /account/balance.

    connect  <endpoint>?token=<token>&connectId=<id>
    server   {"id":"<connectId>","type":"welcome"}
    client   {"id":"1","type":"ping"}                -> {"id":"1","type":"pong"}
    client   {"id":"2","type":"subscribe","topic":"/account/balance",
              "privateChannel":true,"response":true} -> {"id":"2","type":"ack"}
    server   {"topic":"/account/balance","type":"message",
              "subject":"account.balance",...}       for every change after the ack
    client   {"id":"3","type":"unsubscribe","topic":"/account/balance",
              "response":true}                       -> {"id":"3","type":"ack"}

A bad or expired token gets {"id":"<connectId>","type":"error","code":401,
"data":"token is invalid"} and the connection is closed; an unknown topic gets
code 404. A connection from which nothing arrives for pingInterval +
pingTimeout is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from kuledger.http.context import ApiServices
from kuledger.http.stream import (
    MAX_PENDING,
    TOPIC,
    Close,
    Outgoing,
    StreamServices,
    Subscriber,
)
from kuledger.http.stream_tokens import TokenClaims

log = logging.getLogger("kuledger.stream")

MAX_FRAME_CHARS = 16 * 1024  # client messages are small JSON objects
MAX_ID_CHARS = 128
FEED_WAIT_S = 5.0  # how long a subscribe waits for the Redis listener
CLOSE_WAIT_S = 5.0  # how long queued messages may take to go out before a close
_CONNECT_ID = re.compile(r"[\w.:-]{1,128}")


def private_stream(services: ApiServices) -> Callable[[WebSocket], Awaitable[None]]:
    assert services.stream is not None

    async def endpoint(websocket: WebSocket) -> None:
        assert services.stream is not None
        await _Connection(services, services.stream, websocket).run()

    return endpoint


def _frame(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def _error(message_id: Any, code: int, text: str) -> str:
    reply: dict[str, Any] = {"type": "error", "code": code, "data": text}
    if message_id is not None:
        reply = {"id": message_id, **reply}
    return _frame(reply)


class _Connection:
    def __init__(
        self, services: ApiServices, stream: StreamServices, websocket: WebSocket
    ) -> None:
        self.services = services
        self.stream = stream
        self.websocket = websocket
        self.outbox: asyncio.Queue[Outgoing] = asyncio.Queue()
        self.subscriber: Subscriber | None = None
        self.uid = ""

    async def run(self) -> None:
        params = self.websocket.query_params
        connect_id = params.get("connectId", "")
        if not _CONNECT_ID.fullmatch(connect_id):
            connect_id = uuid.uuid4().hex
        await self.websocket.accept()
        claims = await self._authorize(params.get("token", ""))
        if claims is None:
            with contextlib.suppress(Exception):  # the client may be gone already
                await self.websocket.send_text(
                    _error(connect_id, 401, "token is invalid")
                )
                await self.websocket.close(1008, "token is invalid")
            return
        self.uid = claims.uid
        await self.websocket.send_text(_frame({"id": connect_id, "type": "welcome"}))
        owner = (claims.key, claims.uid)
        self.stream.keys.watch(
            owner, self, lambda: self._revoked(connect_id), self.services.reader.api_key
        )
        writer = asyncio.create_task(self._write())
        reader = asyncio.create_task(self._read())
        try:
            await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
            closing = (
                reader.done()
                and not reader.cancelled()
                and reader.exception() is None
                and reader.result()
            )
            if closing:
                # The reader queued a Close: let the writer send what precedes it.
                await asyncio.wait({writer}, timeout=CLOSE_WAIT_S)
        finally:
            self.stream.keys.forget(owner, self)
            self._unsubscribe()
            for task in (reader, writer):
                task.cancel()
            for task in (reader, writer):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _revoked(self, connect_id: str) -> None:
        """The key was revoked: stop the pushes and close (after what is queued)."""
        self._unsubscribe()
        self.outbox.put_nowait(_error(connect_id, 401, "api key revoked"))
        self.outbox.put_nowait(Close(1008, "api key revoked"))

    async def _authorize(self, token: str) -> TokenClaims | None:
        claims = self.stream.tokens.verify(token)
        if claims is None:
            return None
        stored = await run_in_threadpool(self.services.reader.api_key, claims.key)
        if stored is None or stored.revoked_at is not None or stored.uid != claims.uid:
            return None  # the key that asked for the token is gone
        return claims

    async def _write(self) -> None:
        while True:
            item = await self.outbox.get()
            if isinstance(item, Close):
                await self.websocket.close(item.code, item.reason)
                return
            await self.websocket.send_text(item)

    async def _read(self) -> bool:
        """Handle client messages until the client leaves (False) or must be
        closed (True, after queueing the Close)."""
        idle = (self.stream.ping_interval_ms + self.stream.ping_timeout_ms) / 1000
        while True:
            try:
                message = await asyncio.wait_for(self.websocket.receive(), idle)
            except TimeoutError:
                self.outbox.put_nowait(Close(1000, "ping timeout"))
                return True
            if message["type"] == "websocket.disconnect":
                return False
            text = message.get("text")
            if text is None:
                self.outbox.put_nowait(_error(None, 400, "messages must be JSON text"))
                continue
            if len(text) > MAX_FRAME_CHARS:
                self.outbox.put_nowait(Close(1009, "message too big"))
                return True
            if self.outbox.qsize() > MAX_PENDING:  # it sends but does not read
                self.outbox.put_nowait(Close(1013, "too many messages pending"))
                return True
            await self._handle(text)

    async def _handle(self, text: str) -> None:
        try:
            request = json.loads(text)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            self.outbox.put_nowait(_error(None, 400, "message is not a JSON object"))
            return
        message_id = request.get("id")
        if not (message_id is None or isinstance(message_id, str | int)) or (
            isinstance(message_id, str) and len(message_id) > MAX_ID_CHARS
        ):
            self.outbox.put_nowait(_error(None, 400, "id is invalid"))
            return
        kind = request.get("type")
        if kind == "ping":
            self.outbox.put_nowait(_frame({"id": message_id, "type": "pong"}))
        elif kind in ("subscribe", "unsubscribe"):
            await self._topic_request(kind, message_id, request)
        else:
            self.outbox.put_nowait(
                _error(message_id, 400, f"type {str(kind)[:32]!r} is not supported")
            )

    async def _topic_request(
        self, kind: str, message_id: Any, request: dict[str, Any]
    ) -> None:
        topic = request.get("topic")
        if not isinstance(topic, str) or not topic:
            self.outbox.put_nowait(_error(message_id, 400, "topic is required"))
            return
        if topic != TOPIC:
            self.outbox.put_nowait(
                _error(message_id, 404, f"topic {topic[:128]} is not found")
            )
            return
        if kind == "subscribe" and self.subscriber is None:
            hub = self.stream.hub
            live = hub.ready(0) or await run_in_threadpool(hub.ready, FEED_WAIT_S)
            if not live:
                self.outbox.put_nowait(
                    _error(message_id, 503, "balance stream unavailable; retry")
                )
                return
            # The ack is queued before the subscription starts: every change
            # committed after the ack follows it.
            self._ack(message_id, request)
            self.subscriber = Subscriber(asyncio.get_running_loop(), self.outbox)
            hub.add(self.uid, self.subscriber)
            return
        if kind == "unsubscribe":
            self._unsubscribe()
        self._ack(message_id, request)

    def _ack(self, message_id: Any, request: dict[str, Any]) -> None:
        if request.get("response") is True:
            self.outbox.put_nowait(_frame({"id": message_id, "type": "ack"}))

    def _unsubscribe(self) -> None:
        if self.subscriber is not None:
            self.stream.hub.remove(self.uid, self.subscriber)
            self.subscriber = None


class RedactTokens(logging.Filter):
    """Keeps connect tokens out of uvicorn's "WebSocket /ws/private?token=..."
    lines."""

    _TOKEN = re.compile(r"(token=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                self._TOKEN.sub(r"\1***", a) if isinstance(a, str) else a
                for a in record.args
            )
        elif isinstance(record.msg, str) and "token=" in record.msg:
            record.msg = self._TOKEN.sub(r"\1***", record.msg)
        return True


def redact_tokens_in_server_log() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
