"""`kuledger serve` opens the operator listener beside the KuCoin one; each
port serves only its own API."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.inprocess import InProcessCli
from tests.support.server import KULEDGER, database_env, free_port, live_server


@pytest.mark.slow
def test_serve_opens_both_listeners_each_with_its_own_api(tmp_path: Path):
    operator_port = free_port()
    # At warning level too, each operator call is audited.
    env = {
        "KULEDGER_OPERATOR_PORT": str(operator_port),
        "KULEDGER_LOG_LEVEL": "warning",
    }
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with live_server(url, tmp_path, extra_env=env, setup_cli=InProcessCli) as s:
        token = s.cli.json(
            "operator-token", "create", "--name", "t", "--scope", "read", "--json"
        )["token"]
        operator = f"http://127.0.0.1:{operator_port}"
        document = httpx.get(f"{operator}/operator/v1/openapi.json")
        assert document.status_code == 200
        assert document.json()["info"]["title"] == "kuledger operator API"
        verify = httpx.get(
            f"{operator}/operator/v1/verify",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert verify.json()["code"] == "200000"
        for path in ("/operator/v1/openapi.json", "/operator/v1/verify"):
            refused = s.http.get(s.base_url + path)
            assert refused.status_code == 404 and refused.json()["code"] == "404000"
        # Health and metrics on the operator listener, none on the KuCoin port.
        assert httpx.get(f"{operator}/healthz").text == "ok\n"
        assert httpx.get(f"{operator}/readyz").json()["ready"] is True
        s.http.get(s.base_url + "/api/v1/timestamp")
        metrics = httpx.get(f"{operator}/metrics").text
        assert 'endpoint="GET /api/v1/timestamp"' in metrics
        for path in ("/healthz", "/readyz", "/metrics"):
            assert s.http.get(s.base_url + path).json()["code"] == "404000"
        on_operator = httpx.get(f"{operator}/api/v1/timestamp")
        assert on_operator.status_code == 404
        assert on_operator.json()["code"] == "404000"
        assert s.http.get(s.base_url + "/api/v1/timestamp").status_code == 200
        audit = [line for line in s.log().splitlines() if '"who":"t"' in line]
        assert len(audit) == 1 and token not in s.log()


def test_serve_refuses_an_operator_port_that_is_a_kucoin_port(tmp_path: Path):
    env = database_env(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path)
    InProcessCli(env).run("init")
    port = free_port()
    done = subprocess.run(
        [*KULEDGER, "serve", "--port", str(port)],
        env={**env, "KULEDGER_OPERATOR_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"KULEDGER_OPERATOR_PORT={port} is a KuCoin port" in done.stderr
