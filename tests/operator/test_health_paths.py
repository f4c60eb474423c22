"""The operator listener answers the monitoring paths (/healthz, /readyz,
/metrics) beside /operator/v1, and measures the KuCoin API once it is on."""

from __future__ import annotations

import time
from pathlib import Path

from tests.operator.support import operator_api
from tests.support.inprocess import BASE_URL

COUNTED = (
    'kuledger_http_requests_total{code="200000",endpoint="GET /api/v1/timestamp",'
    'status="200"} 3.0'
)


def test_the_operator_listener_serves_health_and_the_kucoin_apis_metrics(
    tmp_path: Path,
) -> None:
    env = {"KULEDGER_OPERATOR_PORT": "18001"}  # on: what the server would measure
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with operator_api(url, tmp_path, extra_env=env) as op:
        assert op.unchecked.get(f"{BASE_URL}/healthz").text == "ok\n"
        ready = op.unchecked.get(f"{BASE_URL}/readyz").json()
        assert ready == {
            "ready": True,
            "checks": {"database": "ok", "migrations": "ok"},
        }
        for _ in range(3):
            assert op.kucoin.get(f"{BASE_URL}/api/v1/timestamp").status_code == 200
        deadline = time.monotonic() + 10  # tallies reach /metrics within FLUSH_S
        metrics = ""
        while COUNTED not in metrics and time.monotonic() < deadline:
            time.sleep(0.2)
            metrics = op.unchecked.get(f"{BASE_URL}/metrics").text
        assert COUNTED in metrics
        # The operator API itself is still behind its token.
        refused = op.unchecked.get(f"{BASE_URL}/operator/v1/verify")
        assert refused.json()["code"] == "400001"
