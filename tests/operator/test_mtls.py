"""TLS and client certificates (mTLS) on the operator listener, over real
sockets with real certificates (trustme): uvicorn in a thread of this
process serving both ports, as `kuledger serve` does, and one real
`kuledger serve --workers 2` at the end."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
import uvicorn
from openapi_spec_validator import validate

from kuledger.bootstrap import (
    build_app,
    build_balance_stream,
    build_operator_app,
)
from kuledger.config import ConfigError, Settings
from kuledger.http.listener_tls import ListenerTls, listener_tls
from kuledger.http.operator.app import by_port
from kuledger.http.server_limits import ConnectionLimits, LimitedConfig
from kuledger_client import AsyncOperatorClient, OperatorClient, TransportError
from tests.operator.support import initialized
from tests.support.inprocess import InProcessCli
from tests.support.server import KULEDGER, database_env, free_port, live_server

PREFIX = "/operator/v1"
REST = ",OU=desk,O=exchange"  # a client certificate's subject after its CN


@dataclass
class Pki:
    """A CA, the listener's certificate, and client certificates by CN."""

    ca: trustme.CA
    dir: Path
    server_cert: Path
    server_key: Path
    ca_file: Path

    def client(self, cn: str, ca: trustme.CA | None = None) -> Path:
        """A PEM file holding a client certificate for `cn` and its key."""
        path = self.dir / f"client-{cn}-{id(ca)}.pem"
        cert = (ca or self.ca).issue_cert(
            f"{cn}.clients.test",
            common_name=cn,
            organization_name="exchange",
            organization_unit_name="desk",
        )
        cert.private_key_and_cert_chain_pem.write_to_path(str(path))
        return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    paths = {n: directory / f"{n}.pem" for n in ("cert", "key", "ca")}
    server.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    server.private_key_pem.write_to_path(str(paths["key"]))
    ca.cert_pem.write_to_path(str(paths["ca"]))
    return Pki(ca, directory, paths["cert"], paths["key"], paths["ca"])


@dataclass
class Served:
    kucoin: str  # base URLs
    operator: str
    cli: InProcessCli
    audit: io.StringIO

    def audit_lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.audit.getvalue().splitlines()]


def _bind() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(workdir: Path, pki: Pki, *, client_ca: bool) -> Iterator[Served]:
    """Both listeners on real sockets, the operator one with TLS (and with
    `client_ca`, client certificates required), in one uvicorn server."""
    env = database_env(f"sqlite:///{workdir / 'ledger.db'}", workdir)
    kucoin_sock, operator_sock = _bind(), _bind()
    port = operator_sock.getsockname()[1]
    tls = ListenerTls(
        port, str(pki.server_cert), str(pki.server_key), str(pki.ca_file) * client_ca
    )
    with ExitStack() as stack:
        cli, container, audit = initialized(env, stack)
        stream = build_balance_stream(container)
        app = by_port(
            build_app(container, stream),
            port,
            build_operator_app(container, stream[0]),
        )
        config = LimitedConfig(
            app, limits=ConnectionLimits(), tls=tls, log_config=None, access_log=False
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [kucoin_sock, operator_sock]}
        )
        thread.start()
        stack.callback(thread.join, 10)
        stack.callback(setattr, server, "should_exit", True)
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.02)
        yield Served(
            f"http://127.0.0.1:{kucoin_sock.getsockname()[1]}",
            f"https://127.0.0.1:{port}",
            cli,
            audit,
        )


def token(served: Served, name: str, scopes: str = "post,read,admin") -> str:
    out = served.cli.json(
        "operator-token", "create", "--name", name, "--scope", scopes, "--json"
    )
    return str(out["token"])


def client_context(pki: Pki, cert: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    if cert is not None:
        context.load_cert_chain(str(cert))
    return context


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("mtls"), pki, client_ca=True) as served:
        yield served


def test_no_client_certificate_is_refused_at_the_handshake(mtls: Served, pki: Pki):
    # TLS 1.3 sends the server's refusal after the client's handshake ends: the
    # first read fails, before any HTTP is answered.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{mtls.operator}{PREFIX}/verify", verify=client_context(pki))
    assert mtls.audit_lines() == [] or all(
        line["path"] != f"{PREFIX}/verify" for line in mtls.audit_lines()
    )


def test_a_certificate_of_another_ca_is_refused(mtls: Served, pki: Pki):
    stranger = pki.client("deposit", ca=trustme.CA())
    with pytest.raises(httpx.TransportError):
        httpx.get(
            f"{mtls.operator}{PREFIX}/verify", verify=client_context(pki, stranger)
        )


def test_a_plain_http_request_to_the_tls_port_gets_no_answer(mtls: Served):
    with pytest.raises(httpx.TransportError):
        httpx.get(mtls.operator.replace("https", "http") + f"{PREFIX}/verify")


def test_a_good_certificate_gets_its_tokens_scopes_and_is_audited(
    mtls: Served, pki: Pki
):
    token(mtls, "reader", "read")
    context = client_context(pki, pki.client("reader"))
    with httpx.Client(base_url=mtls.operator + PREFIX, verify=context) as http:
        answer = http.get("/verify")
        assert answer.status_code == 200 and answer.json()["code"] == "200000"
        denied = http.post("/users", json={"uid": "u1"})
        assert (denied.status_code, denied.json()["code"]) == (403, "400007")
    lines = [line for line in mtls.audit_lines() if line["who"] == "reader"]
    assert [(line["path"], line["code"]) for line in lines] == [
        (f"{PREFIX}/verify", "200000"),
        (f"{PREFIX}/users", "400007"),
    ]
    assert lines[0]["cert"] == "CN=reader" + REST


def test_a_certificate_naming_no_active_token_is_400003(mtls: Served, pki: Pki):
    unknown = client_context(pki, pki.client("nobody"))
    answer = httpx.get(f"{mtls.operator}{PREFIX}/verify", verify=unknown)
    assert (answer.status_code, answer.json()["code"]) == (401, "400003")
    token(mtls, "leaver", "read")
    leaver = client_context(pki, pki.client("leaver"))
    assert httpx.get(f"{mtls.operator}{PREFIX}/verify", verify=leaver).is_success
    mtls.cli.run("operator-token", "revoke", "leaver")
    answer = httpx.get(f"{mtls.operator}{PREFIX}/verify", verify=leaver)
    assert (answer.status_code, answer.json()["code"]) == (401, "400003")
    audited = [
        line for line in mtls.audit_lines() if line["cert"] == "CN=leaver" + REST
    ]
    assert [line["who"] for line in audited] == ["leaver", None]


def test_a_bearer_token_still_decides_when_it_is_sent(mtls: Served, pki: Pki):
    admin = token(mtls, "bearer-admin")
    token(mtls, "cert-reader", "read")
    context = client_context(pki, pki.client("cert-reader"))
    created = httpx.post(
        f"{mtls.operator}{PREFIX}/users",
        json={"uid": "by-bearer"},
        headers={"Authorization": f"Bearer {admin}"},
        verify=context,
    )
    assert created.json()["code"] == "200000"
    line = mtls.audit_lines()[-1]
    assert (line["who"], line["cert"]) == ("bearer-admin", "CN=cert-reader" + REST)


def test_the_kucoin_port_is_unaffected(mtls: Served):
    answer = httpx.get(f"{mtls.kucoin}/api/v1/timestamp")
    assert answer.json()["code"] == "200000"


def test_the_sdk_clients_bring_a_client_certificate(mtls: Served, pki: Pki):
    token(mtls, "sdk", "post,read,admin")
    cert = pki.client("sdk")
    with OperatorClient(
        None, base_url=mtls.operator, ca_bundle=str(pki.ca_file), client_cert=str(cert)
    ) as client:
        client.create_user(uid="sdk-user")
        assert client.get_user("sdk-user").uid == "sdk-user"
    with (
        OperatorClient(
            None, base_url=mtls.operator, ca_bundle=str(pki.ca_file), max_retries=0
        ) as client,
        pytest.raises(TransportError),
    ):  # refused before any HTTP
        client.get_verify_status()

    async def read() -> str:
        async with AsyncOperatorClient(
            None,
            base_url=mtls.operator,
            ca_bundle=str(pki.ca_file),
            client_cert=str(cert),
        ) as client:
            return (await client.get_user("sdk-user")).uid

    assert asyncio.run(read()) == "sdk-user"


def test_tls_without_client_ca_serves_tokens(tmp_path: Path, pki: Pki):
    with serving(tmp_path, pki, client_ca=False) as served:
        secret = token(served, "plain-tls", "read")
        with OperatorClient(
            secret, base_url=served.operator, ca_bundle=str(pki.ca_file)
        ) as client:
            assert client.get_verify_status() is not None
        no_token = httpx.get(
            f"{served.operator}{PREFIX}/verify", verify=client_context(pki)
        )
        assert (no_token.status_code, no_token.json()["code"]) == (400, "400001")
        assert served.audit_lines()[0]["who"] == "plain-tls"
        assert served.audit_lines()[0]["cert"] is None
        document = httpx.get(
            f"{served.operator}{PREFIX}/openapi.json", verify=client_context(pki)
        )
        validate(document.json())  # as served over the TLS socket


# --- the settings -------------------------------------------------------------


def _settings(**values: str) -> Settings:
    env = {"KULEDGER_OPERATOR_PORT": "8001"}
    env.update({f"KULEDGER_OPERATOR_TLS_{k.upper()}": v for k, v in values.items()})
    return Settings.from_env(env)


def test_no_tls_settings_mean_plain_http():
    assert listener_tls(_settings()) is None


def test_good_settings_give_the_listener_its_tls(pki: Pki):
    tls = listener_tls(
        _settings(
            cert=str(pki.server_cert),
            key=str(pki.server_key),
            client_ca=str(pki.ca_file),
        )
    )
    assert tls is not None and tls.port == 8001
    assert tls.context().verify_mode == ssl.CERT_REQUIRED


def test_bad_settings_are_one_line_naming_the_setting(pki: Pki, tmp_path: Path):
    other = trustme.CA().issue_cert("127.0.0.1")
    other_key = tmp_path / "other-key.pem"
    other.private_key_pem.write_to_path(str(other_key))
    cert, key, ca = str(pki.server_cert), str(pki.server_key), str(pki.ca_file)
    cases = {
        "KULEDGER_OPERATOR_TLS_CERT: cannot read": {"cert": "/nope.pem", "key": key},
        "KULEDGER_OPERATOR_TLS_KEY: cannot read": {"cert": cert, "key": "/nope.pem"},
        f"KULEDGER_OPERATOR_TLS_KEY {other_key} does not match": {
            "cert": cert,
            "key": str(other_key),
        },
        "KULEDGER_OPERATOR_TLS_CLIENT_CA needs KULEDGER_OPERATOR_TLS_CERT": {
            "client_ca": ca
        },
        "KULEDGER_OPERATOR_TLS_CERT and KULEDGER_OPERATOR_TLS_KEY go together": {
            "cert": cert
        },
        "KULEDGER_OPERATOR_TLS_KEY: ": {"cert": cert, "key": ca},  # no key in it
        "KULEDGER_OPERATOR_TLS_CLIENT_CA: ": {  # a key, not a CA certificate
            "cert": cert,
            "key": key,
            "client_ca": key,
        },
    }
    for expected, values in cases.items():
        with pytest.raises(ConfigError) as refused:
            listener_tls(_settings(**values))
        assert str(refused.value).startswith(expected), (values, refused.value)
        assert "\n" not in str(refused.value)
    with pytest.raises(ConfigError, match="KULEDGER_OPERATOR_PORT is 0"):
        listener_tls(
            Settings.from_env(
                {"KULEDGER_OPERATOR_TLS_CERT": cert, "KULEDGER_OPERATOR_TLS_KEY": key}
            )
        )


@pytest.mark.slow
def test_serve_refuses_a_key_of_another_certificate(tmp_path: Path, pki: Pki):
    env = database_env(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path)
    InProcessCli(env).run("init")
    wrong_key = tmp_path / "wrong.pem"
    trustme.CA().issue_cert("x").private_key_pem.write_to_path(str(wrong_key))
    done = subprocess.run(
        [*KULEDGER, "serve", "--port", str(free_port())],
        env={
            **env,
            "KULEDGER_OPERATOR_PORT": str(free_port()),
            "KULEDGER_OPERATOR_TLS_CERT": str(pki.server_cert),
            "KULEDGER_OPERATOR_TLS_KEY": str(wrong_key),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: KULEDGER_OPERATOR_TLS_KEY {wrong_key} does not match "
        "KULEDGER_OPERATOR_TLS_CERT"
    ]


@pytest.mark.slow
def test_serve_with_workers_requires_client_certificates(tmp_path: Path, pki: Pki):
    """The real server, with the TLS settings pickled into two worker processes."""
    operator_port = free_port()
    env = {
        "KULEDGER_OPERATOR_PORT": str(operator_port),
        "KULEDGER_OPERATOR_TLS_CERT": str(pki.server_cert),
        "KULEDGER_OPERATOR_TLS_KEY": str(pki.server_key),
        "KULEDGER_OPERATOR_TLS_CLIENT_CA": str(pki.ca_file),
    }
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with live_server(url, tmp_path, extra_env=env, workers=2) as s:
        s.cli.run("operator-token", "create", "--name", "engine", "--scope", "read")
        base = f"https://127.0.0.1:{operator_port}{PREFIX}"
        good = client_context(pki, pki.client("engine"))
        for _ in range(4):  # whichever worker accepts the connection
            with httpx.Client(verify=good) as http:
                assert http.get(f"{base}/verify").json()["code"] == "200000"
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/verify", verify=client_context(pki))
        assert s.http.get(s.base_url + "/api/v1/timestamp").status_code == 200
        assert "operator API on https://" in s.log()
        assert f'"cert":"CN=engine{REST}"' in s.log()
