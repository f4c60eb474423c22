"""kuledger_client: a typed SDK for KuCoin-compatible ledger APIs.

from kuledger_client import KucoinClient

with KucoinClient(KEY, SECRET, PASSPHRASE, base_url="http://127.0.0.1:8000") as c:
    for entry in c.iter_ledger(since_ms, until_ms, currencies=["USDT"]):
        print(entry.id, entry.amount, entry.direction)
"""

from kuledger_client._async.client import AsyncKucoinClient
from kuledger_client._async.operator import AsyncOperatorClient
from kuledger_client._auth import KucoinAuth
from kuledger_client._core import (
    DEFAULT_BASE_URL,
    DEFAULT_FUTURES_BASE_URL,
    ENDPOINTS,
    Endpoint,
)
from kuledger_client._exceptions import (
    AuthenticationError,
    BadRequestError,
    ClientError,
    KucoinError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)
from kuledger_client._ledger import (
    DAY_MS,
    LEDGERS,
    LedgerName,
    ledger_windows,
    order_key,
    to_ms,
    window_count,
)
from kuledger_client._models import (
    Account,
    AccountDetail,
    AnyLedgerEntry,
    FuturesLedgerEntry,
    FuturesLedgerPage,
    LedgerEntry,
    RateLimit,
    ServiceStatus,
    SpotLedgerPage,
    TransferQuotas,
    TransferResult,
    dumps,
)
from kuledger_client._operator import (
    DEFAULT_OPERATOR_URL,
    AccountBalance,
    ApiKeyInfo,
    BatchItem,
    BatchResult,
    LedgerUser,
    NewApiKey,
    OperationEntry,
    OperationResult,
    OperationStatus,
    UserPage,
    VerifyStatus,
)
from kuledger_client._sync.client import KucoinClient
from kuledger_client._sync.operator import OperatorClient
from kuledger_client.signing import auth_headers, sign, sign_passphrase

__all__ = [
    "DAY_MS",
    "DEFAULT_BASE_URL",
    "DEFAULT_FUTURES_BASE_URL",
    "DEFAULT_OPERATOR_URL",
    "ENDPOINTS",
    "LEDGERS",
    "Account",
    "AccountBalance",
    "AccountDetail",
    "AnyLedgerEntry",
    "ApiKeyInfo",
    "AsyncKucoinClient",
    "AsyncOperatorClient",
    "AuthenticationError",
    "BadRequestError",
    "BatchItem",
    "BatchResult",
    "ClientError",
    "Endpoint",
    "FuturesLedgerEntry",
    "FuturesLedgerPage",
    "KucoinAuth",
    "KucoinClient",
    "KucoinError",
    "LedgerEntry",
    "LedgerName",
    "LedgerUser",
    "NewApiKey",
    "NotFoundError",
    "OperationEntry",
    "OperationResult",
    "OperationStatus",
    "OperatorClient",
    "RateLimit",
    "RateLimitError",
    "ServerError",
    "ServiceStatus",
    "SpotLedgerPage",
    "TransferQuotas",
    "TransferResult",
    "TransportError",
    "UserPage",
    "VerifyStatus",
    "auth_headers",
    "dumps",
    "ledger_windows",
    "order_key",
    "sign",
    "sign_passphrase",
    "to_ms",
    "window_count",
]
