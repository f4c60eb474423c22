"""uvicorn's HTTP/1.1 protocols, answering a request they cannot parse (a
malformed request line or header, a bad Content-Length) with KuCoin's
envelope instead of uvicorn's plain-text 400: HTTP 400,
{"code":"400000","msg":"Invalid HTTP request received."}, then the connection
is closed, as uvicorn does. `kuledger serve` runs the httptools one with its
connection limits (http/server_limits.py); PROTOCOLS names both for uvicorn's
`http` setting.

What uvicorn's parser accepts reaches the application, which answers every
error with the envelope (http/errors.py); what never parses as HTTP at all
(a TLS handshake on the plain port) is still closed without an answer.
"""

from __future__ import annotations

import asyncio

import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

BAD_REQUEST = orjson.dumps({"code": "400000", "msg": "Invalid HTTP request received."})


class _EnvelopeFor400:
    """Replaces uvicorn's send_400_response (the same in h11_impl and
    httptools_impl): the bytes are written whole and the connection closed,
    so neither parser's state matters any more."""

    transport: asyncio.Transport
    server_state: ServerState

    def send_400_response(self, msg: str) -> None:
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(BAD_REQUEST),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + BAD_REQUEST)
        self.transport.close()


class EnvelopeH11Protocol(_EnvelopeFor400, H11Protocol):
    pass


PROTOCOLS = {"h11": f"{__name__}:EnvelopeH11Protocol"}

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # no httptools: uvicorn's "auto" is h11 then too
    PROTOCOLS["auto"] = PROTOCOLS["h11"]
else:

    class EnvelopeHttpToolsProtocol(_EnvelopeFor400, HttpToolsProtocol):
        pass

    PROTOCOLS["httptools"] = f"{__name__}:EnvelopeHttpToolsProtocol"
    PROTOCOLS["auto"] = PROTOCOLS["httptools"]
