"""TLS, and client certificates (mTLS), on the operator listener only.

uvicorn applies one `ssl` setting to every socket it serves, and the KuCoin
port must stay as it is: so the KuCoin and operator sockets are served
plain, and the protocol (http/server_limits.py) puts asyncio's TLS protocol
between itself and a connection that arrived on the operator port, in its
`connection_made`, before a byte is read (`loop.start_tls` would run a
loop iteration later, when the ClientHello may already have been read as
HTTP); the TLS protocol makes the connection again, with its TLS transport,
once the handshake (and the client certificate's check) is done.

The settings are checked once at startup, in the serving process, so a bad
one is a one-line error naming it; each worker process then builds its own
context (an SSLContext does not pickle).

The verified client certificate reaches the application as ASGI's TLS
extension, scope["extensions"]["tls"], with its subject's CN added as
`client_cert_cn`.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kuledger.config import ConfigError, Settings

CERT = "KULEDGER_OPERATOR_TLS_CERT"
KEY = "KULEDGER_OPERATOR_TLS_KEY"
CLIENT_CA = "KULEDGER_OPERATOR_TLS_CLIENT_CA"


@dataclass(frozen=True, slots=True)
class ListenerTls:
    """TLS for connections arriving on `port`; with `client_ca`, a client
    certificate it signed is required."""

    port: int
    cert: str
    key: str
    client_ca: str = ""

    def context(self) -> ssl.SSLContext:
        """This process's context, built on first use."""
        if self not in _contexts:
            _contexts[self] = _context(self)
        return _contexts[self]


_contexts: dict[ListenerTls, ssl.SSLContext] = {}
_SHORT = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
}


def listener_tls(settings: Settings) -> ListenerTls | None:
    """The operator listener's TLS from the settings (None: plain HTTP), its
    files loaded once to check them: ConfigError names the bad setting."""
    cert, key, ca = (
        settings.operator_tls_cert,
        settings.operator_tls_key,
        settings.operator_tls_client_ca,
    )
    if not (cert or key or ca):
        return None
    if ca and not (cert and key):
        raise ConfigError(f"{CLIENT_CA} needs {CERT} and {KEY}: mTLS is TLS first")
    if bool(cert) != bool(key):
        raise ConfigError(f"{CERT} and {KEY} go together: set both or neither")
    if not settings.operator_port:
        raise ConfigError(f"{CERT} is set but KULEDGER_OPERATOR_PORT is 0")
    tls = ListenerTls(settings.operator_port, cert, key, ca)
    tls.context()
    return tls


def _context(tls: ListenerTls) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _pem(CERT, tls.cert, "CERTIFICATE")
    _pem(KEY, tls.key, "PRIVATE KEY")
    try:
        context.load_cert_chain(tls.cert, tls.key)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(f"{KEY} {tls.key} does not match {CERT}") from None
        raise ConfigError(f"{CERT}/{KEY}: cannot load them: {exc}") from None
    if tls.client_ca:
        _pem(CLIENT_CA, tls.client_ca, "CERTIFICATE")
        try:
            context.load_verify_locations(cafile=tls.client_ca)
        except ssl.SSLError as exc:
            raise ConfigError(f"{CLIENT_CA} {tls.client_ca}: {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _pem(setting: str, path: str, label: str) -> None:
    """A readable file holding a PEM block whose label ends with `label`."""
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    if f"{label}-----" not in text:
        raise ConfigError(f"{setting}: {path} holds no PEM {label.lower()}")


def serves(tls: ListenerTls | None, transport: asyncio.BaseTransport) -> bool:
    """Whether this plain connection arrived on the TLS listener's port."""
    if tls is None or transport.get_extra_info("sslcontext") is not None:
        return False
    sockname = transport.get_extra_info("sockname")
    return isinstance(sockname, tuple) and sockname[1] == tls.port


def start_tls(
    protocol: asyncio.Protocol,
    transport: asyncio.Transport,
    tls: ListenerTls,
    handshake_timeout_s: int,
) -> None:
    """Serve `protocol` over TLS on this fresh connection: a failed or slow
    handshake closes it, and `protocol` never hears of it."""
    wrapper = sslproto.SSLProtocol(
        asyncio.get_running_loop(),
        protocol,
        tls.context(),
        None,  # type: ignore[arg-type]  # no waiter: nobody awaits the handshake
        server_side=True,
        ssl_handshake_timeout=handshake_timeout_s,
    )
    transport.set_protocol(wrapper)
    wrapper.connection_made(transport)


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any]:
    """ASGI's TLS extension for a connection, plus the client's CN."""
    ssl_object = transport.get_extra_info("ssl_object")
    peer = transport.get_extra_info("peercert") or {}
    subject = [rdn for group in peer.get("subject", ()) for rdn in group]
    cipher = transport.get_extra_info("cipher")
    return {
        "server_cert": None,
        "client_cert_chain": [],
        "client_cert_name": ",".join(
            f"{_SHORT.get(k, k)}={v}" for k, v in reversed(subject)
        )
        or None,
        "client_cert_cn": next((v for k, v in subject if k == "commonName"), None),
        "client_cert_error": None,
        "tls_version": ssl_object.version() if ssl_object is not None else None,
        "cipher_suite": cipher[0] if cipher else None,
    }
