"""KuCoin signing against published vectors (kucoin-api-spec.md 5.2) and the
headers real clients sent to a logging server (kucoin-clients.md 1.2, 2.2, 3.2, 7).
"""

from __future__ import annotations

import httpx
import pytest

from kuledger_client import KucoinAuth
from kuledger_client._auth import signed_path
from kuledger_client.signing import (
    auth_headers,
    hmac_b64,
    prehash,
    sign,
    sign_passphrase,
)

LEDGER = "/api/v1/accounts/ledgers"
DUMMY_SECRET = "dummy-secret"


def test_the_passphrase_of_key_versions_2_and_3_is_hmaced_with_the_secret():
    expected = "zxi6g6OjMdE6+LXEv+39pSHhcQqj8Kmhiwx2RAaQD8I="
    assert sign_passphrase(DUMMY_SECRET, "dummy-pass", 3) == expected
    assert sign_passphrase(DUMMY_SECRET, "dummy-pass", 2) == expected


def test_the_passphrase_of_key_version_1_is_sent_as_is():
    assert sign_passphrase(DUMMY_SECRET, "dummy-pass", 1) == "dummy-pass"


def test_the_universal_sdk_test_vector():
    # kucoin-universal-sdk test_default_signer.py
    expected = "jie/gxS38wLFFaBwl/cAzFbAzlI8MIny96jSXrB+iP4="
    assert hmac_b64("test_api_secret", "test_plain") == expected


def test_the_legacy_docs_deposit_addresses_example():
    body = '{"currency":"BTC"}'
    assert (
        prehash("1547015186532", "post", "/api/v1/deposit-addresses", body)
        == '1547015186532POST/api/v1/deposit-addresses{"currency":"BTC"}'
    )
    signature = sign(
        "f03a5284-5c39-4aaa-9b20-dea10bdcf8e3",
        "1547015186532",
        "POST",
        "/api/v1/deposit-addresses",
        body,
    )
    assert signature == "7QP/oM0ykidMdrfNEUmng8eZjg/ZvPafjIqmxiVfYu4="


@pytest.mark.parametrize(
    ("client", "timestamp", "path_and_query", "expected"),
    [
        (
            "kucoin-python (alphabetical query)",
            "1795609504000",
            f"{LEDGER}?currency=USDT&currentPage=1&endAt=1700086400000"
            "&pageSize=10&startAt=1699999000000",
            "FD7ULA8MpNUDSqK8R0g02VqHMycFfjd7yP+Lc9m+OQQ=",
        ),
        (
            "universal SDK (field order)",
            "1795609502801",
            f"{LEDGER}?currency=USDT&startAt=1699999000000&endAt=1700086400000"
            "&currentPage=1&pageSize=10",
            "MRziYMvwWgWoWMEAn5jxuKq5V5LngYzE17MlN/O/VFw=",
        ),
        (
            "python-kucoin (insertion order)",
            "1795609505284",
            f"{LEDGER}?currency=USDT&startAt=1699999000000&endAt=1700086400000"
            "&currentPage=1&pageSize=10",
            "jnN1fbzSiexUPoqZ2SHSUE2ads6gjZmk5WXtKJ9HlU0=",
        ),
        (
            "ccxt (no query)",
            "1795609506602",
            "/api/ua/v1/account/mode",
            "XiAd0fq9zdMdNxVsTa+0Gfw+SRZi9UC4V+ht4/54RVk=",
        ),
    ],
    ids=lambda value: value if " " in str(value) else "",
)
def test_the_signatures_real_clients_sent(client, timestamp, path_and_query, expected):
    assert sign(DUMMY_SECRET, timestamp, "GET", path_and_query) == expected


def test_auth_headers_carry_everything_and_the_version_only_from_v2():
    headers = auth_headers("k", DUMMY_SECRET, "dummy-pass", "1", "GET", LEDGER)
    assert set(headers) == {
        "KC-API-KEY",
        "KC-API-SIGN",
        "KC-API-TIMESTAMP",
        "KC-API-PASSPHRASE",
        "KC-API-KEY-VERSION",
    }
    assert headers["KC-API-KEY-VERSION"] == "3"
    v1 = auth_headers("k", DUMMY_SECRET, "dummy-pass", "1", "GET", LEDGER, "", 1)
    assert "KC-API-KEY-VERSION" not in v1
    assert v1["KC-API-PASSPHRASE"] == "dummy-pass"


def test_the_sdk_signs_the_decoded_query_in_the_order_sent():
    url = httpx.URL(
        "http://h" + LEDGER, params=[("currency", "USDT,BTC"), ("startAt", "1")]
    )
    assert "USDT%2CBTC" in str(url)
    assert signed_path(url) == f"{LEDGER}?currency=USDT,BTC&startAt=1"
    assert signed_path(httpx.URL("http://h/api/v1/accounts")) == "/api/v1/accounts"


def test_kucoin_auth_signs_each_send_with_a_fresh_timestamp():
    times = iter([1795609502801, 1795609502999])
    auth = KucoinAuth("dummy-key", DUMMY_SECRET, "dummy-pass", 3, lambda: next(times))
    request = httpx.Request(
        "GET",
        "http://h" + LEDGER,
        params=[
            ("currency", "USDT"),
            ("startAt", "1699999000000"),
            ("endAt", "1700086400000"),
            ("currentPage", "1"),
            ("pageSize", "10"),
        ],
    )
    first = dict(next(auth.auth_flow(request)).headers)
    assert first["kc-api-sign"] == "MRziYMvwWgWoWMEAn5jxuKq5V5LngYzE17MlN/O/VFw="
    assert first["kc-api-passphrase"] == "zxi6g6OjMdE6+LXEv+39pSHhcQqj8Kmhiwx2RAaQD8I="
    again = dict(next(auth.auth_flow(request)).headers)
    assert again["kc-api-timestamp"] == "1795609502999"
    assert again["kc-api-sign"] != first["kc-api-sign"]


def test_kucoin_auth_signs_the_exact_post_body():
    auth = KucoinAuth("k", "f03a5284-5c39-4aaa-9b20-dea10bdcf8e3", "p", 2, lambda: 1)
    request = httpx.Request(
        "POST", "http://h/api/v1/deposit-addresses", content=b'{"currency":"BTC"}'
    )
    signed = next(auth.auth_flow(request))
    expected = sign(
        "f03a5284-5c39-4aaa-9b20-dea10bdcf8e3",
        "1",
        "POST",
        "/api/v1/deposit-addresses",
        '{"currency":"BTC"}',
    )
    assert signed.headers["KC-API-SIGN"] == expected
    assert "f03a5284" not in repr(auth)
