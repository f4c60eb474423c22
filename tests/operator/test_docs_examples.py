"""The operator API examples of docs/operations.md run, as written, against the
operator API in process (both SDK flavours' shared code; the sync client)."""

from __future__ import annotations

import re
import sys
import types
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kuledger_client import OperatorClient
from tests.operator.support import OperatorApi
from tests.operator.test_operations import deposit, new_uid

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def examples() -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Posting through the operator API", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def run(source: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The example as a module (a dataclass needs one), its main block not run."""
    module = types.ModuleType("docs_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(source, str(DOCS), "exec"), module.__dict__)
    return module.__dict__


def client(op: OperatorApi, scopes: str = "post") -> OperatorClient:
    return OperatorClient(
        op.token(scopes), base_url="http://testserver", transport=op.http._transport
    )


def test_the_deposit_service_credits_each_deposit_once(op: OperatorApi, monkeypatch):
    deposit_example, _ = examples()
    credit_deposit = run(deposit_example, monkeypatch)["credit_deposit"]
    uid = op.user(new_uid())
    with client(op) as c:
        assert credit_deposit(c, uid, "0xfeed", "USDT", Decimal("250")) is True
        assert credit_deposit(c, uid, "0xfeed", "USDT", Decimal("250")) is False
    assert op.balance(uid) == "250"


def test_the_matching_engine_posts_fills_and_reports_refusals(op, monkeypatch):
    _, engine_example = examples()
    names = run(engine_example, monkeypatch)
    fill_type, post_fills = names["Fill"], names["post_fills"]
    buyer, seller, broke = (op.user(new_uid()) for _ in range(3))
    op.post(deposit(buyer, "f0", "1000", account="trade"))
    op.post(deposit(seller, "f0", "1", currency="BTC", account="trade"))
    fills = [
        fill_type(f"t{i}", "BTC-USDT", Decimal("100"), Decimal("0.1"), buyer,
                  "o-buy", "buy", seller, "o-sell")
        for i in range(3)
    ] + [
        fill_type("t9", "BTC-USDT", Decimal("100"), Decimal("0.1"), broke,
                  "o-broke", "buy", seller, "o-sell")
    ]  # fmt: skip
    with client(op) as c:
        refused = post_fills(c, fills)
        assert refused == [("fill-t9-taker", "200004")]
        assert post_fills(c, fills[:3]) == []  # a repeat applies nothing again
    assert op.balance(buyer, "trade", "BTC") == "0.3"
    assert op.balance(buyer, "trade", "USDT") == "969.97"  # 1000 - 30 - 0.03
    assert op.balance(seller, "trade", "BTC") == "0.6"  # and t9's maker side
    assert op.balance(seller, "trade", "USDT") == "39.96"
