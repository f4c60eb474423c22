"""The operator listener answers the monitoring paths (/healthz, /readyz,
/metrics) beside /operator/v1, and measures the KuCoin API once it is on."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.operator.support import operator_api
from tests.support.inprocess import BASE_URL

TIMESTAMP_OK = {"code": "200000", "endpoint": "GET /api/v1/timestamp", "status": "200"}


def _timestamps_counted(metrics: str) -> float:
    """The counter of answered GET /api/v1/timestamp: the registry is the
    process's, so earlier tests in this worker may have counted some too."""
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "kuledger_http_requests_total" and (
                sample.labels == TIMESTAMP_OK
            ):
                return float(sample.value)
    return 0.0


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
        before = _timestamps_counted(op.unchecked.get(f"{BASE_URL}/metrics").text)
        for _ in range(3):
            assert op.kucoin.get(f"{BASE_URL}/api/v1/timestamp").status_code == 200
        deadline = time.monotonic() + 10  # tallies reach /metrics within FLUSH_S
        counted = before
        while counted < before + 3 and time.monotonic() < deadline:
            time.sleep(0.2)
            counted = _timestamps_counted(op.unchecked.get(f"{BASE_URL}/metrics").text)
        assert counted == before + 3
        # The operator API itself is still behind its token.
        refused = op.unchecked.get(f"{BASE_URL}/operator/v1/verify")
        assert refused.json()["code"] == "400001"
