"""docs/api.md keeps up with the code: every endpoint with its pool, weight,
permission and KuCoin page, and every code of the error table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kuledger.http.endpoints import ENDPOINTS
from kuledger.http.errors import KUCOIN_ERRORS
from kuledger.http.routing import Endpoint

API_MD = Path(__file__).resolve().parent.parent / "docs" / "api.md"
# Codes answered outside KUCOIN_ERRORS (Starlette's 404/405, the 500 fallback).
EDGE_CODES = {"404000": 404, "405000": 405, "500000": 500}


@pytest.fixture(scope="module")
def rows() -> dict[str, list[str]]:
    """Table rows by their first cell (the backticked text in it)."""
    found: dict[str, list[str]] = {}
    for line in API_MD.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            found[cells[0].strip("`")] = cells
    return found


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_every_endpoint_has_a_row_with_its_page_pool_weight_and_permission(
    rows, endpoint: Endpoint
):
    name = f"{endpoint.method} {endpoint.path}"
    assert name in rows, f"docs/api.md has no table row for `{name}`"
    _, page, pool, weight, permission = rows[name][:5]
    assert f"({endpoint.kucoin_doc})" in page, page
    assert pool == endpoint.pool
    assert weight == str(endpoint.weight)
    assert permission == (
        endpoint.permission.value if endpoint.permission else "Public"
    )


def test_openapi_json_has_a_row(rows):
    assert "GET /openapi.json" in rows


def test_every_error_code_has_a_row_with_its_http_status(rows):
    pairs = set(KUCOIN_ERRORS.values()) | {(s, c) for c, s in EDGE_CODES.items()}
    for status, code in sorted(pairs):
        assert code in rows, f"docs/api.md's error table has no row for `{code}`"
        assert rows[code][1] == str(status), (code, rows[code])


def test_every_documented_endpoint_is_served(rows):
    served = {f"{e.method} {e.path}" for e in ENDPOINTS} | {"GET /openapi.json"}
    documented = {
        name for name in rows if re.fullmatch(r"(GET|POST|PUT|DELETE) /\S*", name)
    }
    assert documented <= served, documented - served
