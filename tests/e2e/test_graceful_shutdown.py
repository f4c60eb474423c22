"""SIGTERM lets an in-flight request finish before the server exits.

Needs a socket: a signal to the `kuledger serve` process, and a connection open
across it."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest

from kuledger_client.signing import auth_headers
from tests.support.server import live_server

PATH = "/api/v2/accounts/inner-transfer"


@pytest.mark.slow  # seconds of real waiting: the full suite runs it
def test_a_request_in_flight_at_sigterm_is_answered(sqlite_url: str, tmp_path: Path):
    with live_server(sqlite_url, tmp_path) as server:
        user = server.add_user("leaving", permissions="General,Spot")
        server.cli.post(
            [
                {
                    "op": "deposit",
                    "uid": "leaving",
                    "id": "d",
                    "currency": "USDT",
                    "amount": "10",
                }
            ]
        )
        body = json.dumps(
            {
                "clientOid": "c1",
                "currency": "USDT",
                "amount": "4",
                "from": "main",
                "to": "trade",
            }
        )
        headers = auth_headers(
            user.key,
            user.secret,
            user.passphrase,
            str(int(time.time() * 1000)),
            "POST",
            PATH,
            body,
        )
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        port = int(server.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            request_head = (
                f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            sock.sendall(request_head.encode() + body[:10].encode())
            time.sleep(0.5)  # the request is being read when the signal arrives
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert server.process.poll() is None, "the server quit with a request open"
            sock.sendall(body[10:].encode())
            reply = b""
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["code"] == "200000"
        server.process.wait(timeout=30)
        accounts = {
            a["type"]: a["balance"]
            for a in server.cli.json("accounts", "--uid", "leaving", "--json")
        }
        assert accounts == {"main": "6", "trade": "4"}
