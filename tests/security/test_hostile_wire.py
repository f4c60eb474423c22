"""Hostile input on the wire, against a real `kuledger serve`: a 10 MB body
(refused before it is read), header injection, CRLF in the path, invalid
UTF-8 in the request line and body, raw traversal paths. Never a 500, always
the envelope where the application answers at all.

Needs a socket: these are bytes no HTTP client library sends, met first by
uvicorn's HTTP parser (see tests/security/raw.py)."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from kuledger.http.app import MAX_BODY_BYTES
from kuledger.http.endpoints import ENDPOINTS
from kuledger.http.protocols import PROTOCOLS
from tests.security import raw
from tests.security.checks import (
    Pair,
    assert_no_traceback,
    endpoint_label,
    make_pair,
)
from tests.support.api import LEDGER, ok_data, signed_headers
from tests.support.server import ApiUser, LiveServer

POSTS = [e for e in ENDPOINTS if e.method == "POST"]


@pytest.fixture(scope="module")
def pair(unlimited_server: LiveServer) -> Pair:
    return make_pair(unlimited_server)


def _send_until_answered(
    sock: socket.socket, head: bytes, chunks: Iterator[bytes]
) -> int:
    """Send the head, then chunks until the server answers; bytes sent."""
    sock.sendall(head)
    sent = 0
    for chunk in chunks:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            return sent
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return sent
        sent += len(chunk)
    readable, _, _ = select.select([sock], [], [], 10)
    return sent


TEN_MB = 10 * 1024 * 1024


@pytest.mark.parametrize("endpoint", POSTS, ids=endpoint_label)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_10_mb_body_is_refused_before_it_is_read(
    unlimited_server, pair, endpoint, framing
):
    piece = b"x" * 16384
    headers = signed_headers(pair.a, "POST", endpoint.path, "")
    lines = [f"POST {endpoint.path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append("Content-Type: application/json")
    if framing == "content-length":
        lines.append(f"Content-Length: {TEN_MB}")
        chunks = (piece for _ in range(TEN_MB // len(piece)))
    else:
        lines.append("Transfer-Encoding: chunked")
        frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        chunks = (frame for _ in range(TEN_MB // len(piece)))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    started = time.monotonic()
    with raw.connect(unlimited_server, timeout=20) as sock:
        sent = _send_until_answered(sock, head, chunks)
        response = raw.read_response(sock)
    assert response.status == 413, response
    body = response.json()
    assert body["code"] == "413000"
    assert str(MAX_BODY_BYTES) in body["msg"]
    # answered long before the 10 MB were on the wire (socket buffers aside)
    assert sent < 4 * 1024 * 1024, sent
    assert time.monotonic() - started < 10
    ok_data(unlimited_server.signed(pair.a, "GET", LEDGER))  # still serving


# --- header injection, over a bare socket ---

INJECTIONS = [
    b"abc\rX-Injected: 1",
    b"abc\nX-Injected: 1",
    b"abc\r\n X-Injected: 1",  # obsolete line folding
    b"abc\x00def",
    b"abc\x7fdef",
]


@pytest.mark.parametrize("value", INJECTIONS, ids=repr)
@pytest.mark.parametrize("header", [b"KC-API-KEY", b"KC-API-SIGN", b"X-Forwarded-For"])
def test_header_injection_is_refused(unlimited_server, pair, header, value):
    signed = signed_headers(pair.a, "GET", LEDGER)
    headers = [
        (name.encode(), v.encode()) for name, v in signed.items() if name != header
    ]
    headers.append((header, value))
    try:
        response = raw.request(unlimited_server, "GET", LEDGER.encode(), headers)
    except (ConnectionResetError, IndexError, ValueError):
        response = None  # the server dropped the connection: also a refusal
    if response is not None:
        # the HTTP parser refuses it (400, its own text), or the application
        # sees the value and the signature check fails; never a success
        if response.status != 400 or response.headers.get("content-type") == (
            "application/json"
        ):
            assert response.json()["code"] != "200000", response
        assert response.status < 500, response
    ok_data(unlimited_server.signed(pair.a, "GET", LEDGER))
    for line in unlimited_server.log().splitlines():
        assert not line.startswith("X-Injected")


def test_crlf_in_the_path_does_not_split_the_log_line(unlimited_server, pair):
    path = "/api/v1/no%0d%0aX-Injected:%201%0a{}"
    response = raw.request(unlimited_server, "GET", path.encode())
    assert response.status == 404
    assert response.json()["code"] == "404000"
    for line in unlimited_server.log().splitlines():
        assert "X-Injected" not in line or line.startswith("{"), line


# --- invalid UTF-8 ---


@pytest.mark.parametrize(
    "query",
    [
        b"currency=%FF%FE",
        b"currency=\xff\xfe",
        b"bizType=%C0%AF",
        b"currency=%ED%A0%80",
    ],
    ids=["percent", "raw", "overlong", "surrogate"],
)
@pytest.mark.parametrize(
    "endpoint",
    [e for e in ENDPOINTS if e.method == "GET" and "{" not in e.path],
    ids=endpoint_label,
)
def test_invalid_utf8_in_the_query(unlimited_server, pair, endpoint, query):
    target = endpoint.path.encode() + b"?" + query
    headers = raw.signed_raw_headers(
        signed_headers(pair.a, "GET", target.decode("latin-1"))
    )
    response = raw.request(unlimited_server, "GET", target, headers)
    if b"\xff" in query:  # not ASCII in the request line: the HTTP parser's 400
        assert response.status == 400, response
        return
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) in ({"code", "data"}, {"code", "msg"}), body
    assert body["code"] in ("200000", "400100", "400005"), body


@pytest.mark.parametrize("endpoint", POSTS, ids=endpoint_label)
@pytest.mark.parametrize(
    "body",
    [b'{"currency":"\xff\xfe","amount":"1"}', b"\xff\xfe\xfd", b'{"\xc0\xaf":1}'],
    ids=["in-string", "bare", "overlong-key"],
)
@pytest.mark.parametrize("signature", ["bytes", "replaced"])
def test_invalid_utf8_in_the_body(unlimited_server, pair, endpoint, body, signature):
    # sign what a byte-oriented client would (latin-1 round trip of the bytes
    # via surrogateescape), or the U+FFFD-replaced text: both end cleanly
    text = (
        body.decode("utf-8", "surrogateescape")
        if signature == "bytes"
        else body.decode("utf-8", "replace")
    )
    headers = _resign(pair.a, endpoint.path, text)
    response = raw.request(
        unlimited_server,
        "POST",
        endpoint.path.encode(),
        raw.signed_raw_headers(headers),
        body,
    )
    assert response.status < 500, response
    assert response.headers["content-type"] == "application/json"
    parsed = response.json()
    assert parsed["code"] != "500000", parsed
    assert_no_traceback(unlimited_server)


def _resign(user: ApiUser, path: str, text: str) -> dict[str, str]:
    from kuledger_client.signing import auth_headers

    ts = str(int(time.time() * 1000))
    try:
        return auth_headers(
            user.key, user.secret, user.passphrase, ts, "POST", path, text, 3
        )
    except UnicodeEncodeError:  # this client cannot sign such bytes: sign ""
        return auth_headers(user.key, user.secret, user.passphrase, ts, "POST", path)


# --- unknown paths, path traversal ---

TRAVERSALS = [
    b"/../../etc/passwd",
    b"/api/v1/../../etc/passwd",
    b"/%2e%2e/%2e%2e/etc/passwd",
    b"/api/v1/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    b"//etc/passwd",
    b"/api/v1/accounts/ledgers/..%2f..%2f..%2fopenapi.json",
    b"/api/v1/timestamp/..",
    b"/api/v1/timestamp%00.json",
    b"/..%5c..%5cwindows%5cwin.ini",
    b"/api/v1/./timestamp",
]


@pytest.mark.parametrize("target", TRAVERSALS, ids=repr)
def test_path_traversal_is_404000(unlimited_server, target):
    response = raw.request(unlimited_server, "GET", target)
    assert response.status == 404, response
    assert response.json() == {"code": "404000", "msg": "Url Not Found"}


# --- malformed requests: the parser's 400, in KuCoin's envelope ---

INVALID = {"code": "400000", "msg": "Invalid HTTP request received."}
MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET /api/v1/timestamp HTTP/1.1 extra\r\nHost: a\r\n\r\n",
    b"GET /api/v1/\x00timestamp HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /api/v1/timestamp HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
    b"GET /api/v1/timestamp HTTP/1.1\r\nHost: a\r\nBad Name: 1\r\n\r\n",
    b"POST /api/v1/bullet-private HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
    b"POST /api/v1/bullet-private HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
    b"Content-Length: 2\r\n\r\nab",
]


@pytest.mark.parametrize("request_bytes", MALFORMED, ids=repr)
def test_a_malformed_request_is_answered_with_the_envelope(
    unlimited_server, request_bytes
):
    with raw.connect(unlimited_server) as sock:
        sock.sendall(request_bytes)
        response = raw.read_response(sock)
    assert response.status == 400, response
    assert response.headers["content-type"] == "application/json"
    assert response.json() == INVALID


class _Transport(asyncio.Transport):
    """What a protocol writes, and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        addresses = {"peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}
        return addresses.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
@pytest.mark.parametrize("request_bytes", MALFORMED[:4], ids=repr)
def test_every_protocol_answers_a_malformed_request_with_the_envelope(
    name, request_bytes
):
    """Whichever parser `serve` is given (h11 or httptools): the envelope."""

    async def feed() -> _Transport:
        config = Config(lambda *_: None, http=PROTOCOLS[name], log_level="critical")
        config.load()
        protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=ServerState(), app_state={}
        )
        transport = _Transport()
        protocol.connection_made(transport)
        protocol.data_received(request_bytes)
        return transport

    transport = asyncio.run(feed())
    head, _, body = transport.written.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body) == INVALID
    assert transport.closed
