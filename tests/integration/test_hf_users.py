"""HF users trade from trade_hf unless an operation names another account."""

from __future__ import annotations

from kuledger.services import ledger, users


def _trade(uid: str, op_id: str, **extra: str) -> dict[str, str]:
    return {
        "op": "trade",
        "uid": uid,
        "id": op_id,
        "symbol": "BTC-USDT",
        "side": "buy",
        "price": "100",
        "size": "0.5",
        "order_id": "o",
        "trade_id": op_id,
        **extra,
    }


def test_a_trade_without_account_uses_trade_hf_for_hf_users(container):
    users.create_user(container.uow, container.clock, uid="hf", hf=True)
    users.create_user(container.uow, container.clock, uid="classic")
    ledger.apply_batch(
        container.uow,
        [
            {
                "op": "deposit",
                "uid": uid,
                "id": "d",
                "currency": "USDT",
                "amount": "100",
                "account": account,
            }
            for uid, account in (("hf", "trade_hf"), ("classic", "trade"))
        ],
        container.clock,
    )
    ledger.apply(container.uow, _trade("hf", "t1"), container.clock)
    ledger.apply_batch(container.uow, [_trade("classic", "t1")], container.clock)
    hf_types = {e.account_type.value for e in container.reader.entries("hf")}
    classic_types = {e.account_type.value for e in container.reader.entries("classic")}
    assert hf_types == {"trade_hf"}
    assert classic_types == {"trade"}


def test_a_named_account_wins_over_the_hf_default(container):
    users.create_user(container.uow, container.clock, uid="hf2", hf=True)
    ledger.apply(
        container.uow,
        {
            "op": "deposit",
            "uid": "hf2",
            "id": "d",
            "currency": "USDT",
            "amount": "100",
            "account": "trade",
        },
        container.clock,
    )
    ledger.apply(container.uow, _trade("hf2", "t1", account="trade"), container.clock)
    assert {e.account_type.value for e in container.reader.entries("hf2")} == {"trade"}


def test_realised_pnl_settles_the_net_into_the_contract_account(container):
    users.create_user(container.uow, container.clock, uid="trader")
    pnl = {
        "op": "realised_pnl",
        "uid": "trader",
        "currency": "USDT",
        "symbol": "BTCUSDTM",
    }
    ledger.apply(
        container.uow, {**pnl, "id": "p1", "pnl": "20", "fee": "0.5"}, container.clock
    )
    ledger.apply(
        container.uow,
        {**pnl, "id": "p2", "pnl": "-7.25", "fee": "0.25"},
        container.clock,
    )
    [newest, oldest] = list(container.reader.entries("trader"))
    assert (oldest.direction.value, str(oldest.amount), str(oldest.fee)) == (
        "in",
        "19.5",
        "0.5",
    )
    assert (newest.direction.value, str(newest.amount), str(newest.balance)) == (
        "out",
        "7.5",
        "12",
    )
    assert newest.account_type.value == "contract"
    assert newest.biz_code == "REALISED_PNL"
    assert newest.context == '{"symbol":"BTCUSDTM"}'
