"""The demo's set-up (scripts/lib/demo_setup.py, which scripts/demo runs): its
key can transfer, and the demo says what the key can do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.inprocess import InProcessCli, in_process_server
from tests.support.server import ApiUser

SETUP = Path(__file__).resolve().parents[2] / "scripts" / "lib" / "demo_setup.py"


def _setup(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, str(SETUP)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_the_demo_key_can_transfer_and_the_demo_says_so(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KULEDGER_")}
    env.update({"KULEDGER_DATABASE_URL": url, "KULEDGER_DEMO_DIR": str(tmp_path)})
    out = _setup(env)
    assert "permissions: General,Spot,FlexTransfers" in out
    assert "POST /api/v3/accounts/universal-transfer" in out
    key = json.loads((tmp_path / "key.json").read_text())
    secret_key = (tmp_path / "demo.db.key").read_text().strip()
    demo = ApiUser("demo", key["key"], key["secret"], key["passphrase"])
    body = {
        "clientOid": uuid.uuid4().hex,
        "currency": "USDT",
        "amount": "1",
        "fromAccountType": "MAIN",
        "toAccountType": "TRADE",
        "type": "INTERNAL",
    }
    extra = {"KULEDGER_SECRET_KEY": secret_key}
    with in_process_server(url, tmp_path, extra_env=extra) as server:
        answer = server.signed(
            demo, "POST", "/api/v3/accounts/universal-transfer", json.dumps(body)
        ).json()
        assert answer["code"] == "200000", answer

    # A demo from before: its key could not transfer; the next run issues one.
    cli = InProcessCli({"KULEDGER_DATABASE_URL": url})
    old = cli.json("keys", "create", "--uid", "demo", "--json")
    (tmp_path / "key.json").write_text(json.dumps(old))
    _setup(env)
    new = json.loads((tmp_path / "key.json").read_text())
    assert new["key"] not in (old["key"], key["key"])
    listed = {
        k["key"]: k["permissions"]
        for k in cli.json("keys", "list", "--uid", "demo", "--json")
    }
    assert listed[new["key"]] == "FlexTransfers,General,Spot"
    _setup(env)
    kept = json.loads((tmp_path / "key.json").read_text())["key"]
    assert kept == new["key"], "a key that can transfer is kept"
