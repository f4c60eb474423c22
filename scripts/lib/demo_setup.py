"""Set up the demo database (user `demo`, ~30 days of history, a key that can
transfer) unless it is there, then print what the key can do and an SDK snippet.

    KULEDGER_DATABASE_URL  the demo database (scripts/demo sets it)
    KULEDGER_DEMO_DIR      where key.json goes (default: demo/)
    KULEDGER_DEMO_PORT     the port the snippet names (default: 8000)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from kuledger.cli.main import cli

HERE = Path(__file__).resolve().parent
PERMISSIONS = "General,Spot,FlexTransfers"
CAN = {
    "General": "read its accounts and ledgers (GET /api/v1/accounts, "
    "/api/v1/accounts/ledgers, the HF, margin and futures ledgers) and "
    "subscribe to its balances (WebSocket)",
    "Spot": "move funds between its own accounts "
    "(POST /api/v2/accounts/inner-transfer)",
    "FlexTransfers": "flex transfers between its accounts "
    "(POST /api/v3/accounts/universal-transfer)",
}
SDK_LEDGER_REQUEST = (
    "from kucoin_universal_sdk.generate.account.account.model_get_spot_ledger_req "
    "import GetSpotLedgerReqBuilder"
)


def kuledger(*args: str, quiet: bool = False) -> str:
    """Run a kuledger command in this process; its standard output. A failure
    exits, unless `quiet`: then it is "" (and its message is dropped)."""
    out, err = io.StringIO(), io.StringIO()
    code: object = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main(list(args), prog_name="kuledger", standalone_mode=False)
    except SystemExit as exc:
        code = exc.code
    if code:
        if quiet:
            return ""
        sys.exit(f"kuledger {' '.join(args)} failed: {err.getvalue().strip()}")
    return out.getvalue()


def demo_key(folder: Path) -> dict[str, str]:
    """demo/key.json if it names an active key with PERMISSIONS, else a new one
    (a demo made before the key could transfer gets one that can)."""
    path = folder / "key.json"
    if path.exists():
        saved = json.loads(path.read_text())
        listed = json.loads(kuledger("keys", "list", "--uid", "demo", "--json"))
        wanted = set(PERMISSIONS.split(","))
        if any(
            k["key"] == saved["key"]
            and not k["revokedAt"]
            and wanted <= set(k["permissions"].split(","))
            for k in listed
        ):
            return dict(saved)
    created = kuledger(
        "keys", "create", "--uid", "demo", "--permissions", PERMISSIONS, "--json"
    )
    path.write_text(created)
    path.chmod(0o600)
    return dict(json.loads(created))


def main() -> None:
    folder = Path(os.environ.get("KULEDGER_DEMO_DIR", "demo"))
    port = os.environ.get("KULEDGER_DEMO_PORT", "8000")
    folder.mkdir(parents=True, exist_ok=True)
    print(kuledger("init"), end="")
    if not kuledger("accounts", "--uid", "demo", "--json", quiet=True):
        kuledger("users", "create", "--uid", "demo", "--vip", "1")
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as history:
            subprocess.run(
                [sys.executable, str(HERE / "demo_history.py")],
                stdout=history,
                check=True,
            )
            kuledger("post", "--atomic", "--file", history.name)
    key = demo_key(folder)
    print(f"\nDemo user 'demo' on {os.environ.get('KULEDGER_DATABASE_URL')}")
    print(kuledger("accounts", "--uid", "demo"), end="")
    print(kuledger("ledger", "--uid", "demo", "--limit", "5"), end="")
    print(f"""
API key for user 'demo' (also in {folder / "key.json"}):
  key:         {key["key"]}
  secret:      {key["secret"]}
  passphrase:  {key["passphrase"]}
  permissions: {PERMISSIONS}. With them it can:""")
    for name, what in CAN.items():
        print(f"    {name + ':':<15}{what}")
    print(f"""
Fetch the demo ledger with the official KuCoin SDK (pip install kucoin-universal-sdk):

import time
from kucoin_universal_sdk.api.client import DefaultClient
from kucoin_universal_sdk.model.client_option import ClientOptionBuilder
from kucoin_universal_sdk.model.transport_option import TransportOptionBuilder
{SDK_LEDGER_REQUEST}
base = "http://127.0.0.1:{port}"
option = (ClientOptionBuilder().set_key("{key["key"]}").set_secret("{key["secret"]}")
          .set_passphrase("{key["passphrase"]}").set_spot_endpoint(base)
          .set_futures_endpoint(base).set_broker_endpoint(base)
          .set_transport_option(TransportOptionBuilder().build()).build())
account = DefaultClient(option).rest_service().get_account_service().get_account_api()
now = int(time.time() * 1000)
page = account.get_spot_ledger(GetSpotLedgerReqBuilder().set_currency("USDT")
                               .set_start_at(now - 86_400_000).set_end_at(now).build())
for item in page.items:
    print(item.created_at, item.biz_type, item.direction, item.amount, item.balance)
""")


if __name__ == "__main__":
    main()
