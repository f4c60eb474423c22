"""Errors the ledger's rules raise. None of them knows HTTP or KuCoin codes.

LedgerError
├── InvalidInput                 a value is malformed or out of range
│   ├── InvalidAmount            not a plain positive decimal within precision
│   ├── UnknownCurrency          not in the currency catalogue
│   ├── UnknownAccountType       not one of AccountType
│   ├── UnknownBizType           not in the business-type catalogue
│   └── UnknownOperation         the `op` field names no operation
├── UnknownUser                  no user has that uid
├── UserExists                   a user with that uid already exists
├── NotASubAccount               sub_uid is not a sub-account of uid
├── NotAMasterAccount            a sub-account asked to manage sub-accounts
├── SubNameTaken                 the master already has a sub-account of that name
├── AccountNotFound              no such account (or not the caller's)
├── InsufficientBalance          a debit exceeds the available amount
├── IdempotencyConflict          an operation id was reused with another payload
├── BackdatedOperation           `at` is before the latest entry it would follow
├── UnknownApiKey                no (active) API key with that name
└── UnreadableSecret             a stored API secret does not open with the key
"""

from __future__ import annotations

from decimal import Decimal


class LedgerError(Exception):
    """Base class of every error the ledger raises on purpose."""


class InvalidInput(LedgerError):
    """Raised when a field is missing, malformed or out of range.

    `field` names the offending field so the edge can tell the user which one.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class InvalidAmount(InvalidInput):
    """Raised when an amount is not a plain positive decimal within precision."""


class UnknownCurrency(InvalidInput):
    """Raised when a currency code is not in the catalogue."""

    def __init__(self, code: str, field: str = "currency") -> None:
        super().__init__(field, f"{field}: unknown currency {code!r}")
        self.code = code


class UnknownAccountType(InvalidInput):
    """Raised when an account type is not one of AccountType."""


class UnknownBizType(InvalidInput):
    """Raised when a business type is not in the catalogue."""


class UnknownOperation(InvalidInput):
    """Raised when the `op` field names no operation."""


class UnknownUser(LedgerError):
    """Raised when no user has the given uid."""

    def __init__(self, uid: str) -> None:
        super().__init__(f"unknown user {uid!r}")
        self.uid = uid


class UserExists(LedgerError):
    """Raised when creating a user whose uid is taken."""

    def __init__(self, uid: str) -> None:
        super().__init__(f"user {uid!r} already exists")
        self.uid = uid


class NotASubAccount(LedgerError):
    """Raised when a sub-account transfer names a user that is not a sub of uid."""

    def __init__(self, uid: str, sub_uid: str) -> None:
        super().__init__(f"user {sub_uid!r} is not a sub-account of {uid!r}")
        self.uid = uid
        self.sub_uid = sub_uid


class NotAMasterAccount(LedgerError):
    """Raised when a sub-account calls what only its master may do."""

    def __init__(self, uid: str) -> None:
        super().__init__(f"user {uid!r} is a sub-account: only a master may do this")
        self.uid = uid


class SubNameTaken(LedgerError):
    """Raised when a master creates a second sub-account of the same name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"sub-account name {name!r} is already used")
        self.name = name


class AccountNotFound(LedgerError):
    """Raised when an account does not exist or belongs to someone else."""

    def __init__(self, account_id: str) -> None:
        super().__init__("account not exist")
        self.account_id = account_id


class InsufficientBalance(LedgerError):
    """Raised when a debit or hold exceeds the account's available amount."""

    def __init__(
        self,
        uid: str,
        account: str,
        currency: str,
        requested: Decimal,
        available: Decimal,
    ) -> None:
        super().__init__(
            f"insufficient balance: {uid} {account} {currency} has {available} "
            f"available, needs {requested}"
        )
        self.uid = uid
        self.account = account
        self.currency = currency
        self.requested = requested
        self.available = available


class IdempotencyConflict(LedgerError):
    """Raised when an operation id is reused with a different payload."""

    def __init__(self, uid: str, op_id: str) -> None:
        super().__init__(
            f"operation id {op_id!r} of user {uid!r} was already used with a "
            "different payload"
        )
        self.uid = uid
        self.op_id = op_id


class BackdatedOperation(LedgerError):
    """Raised when `at` is earlier than the latest entry of a touched account."""

    def __init__(self, at: int, latest: int) -> None:
        super().__init__(
            f"at={at} is before the latest entry ({latest}) of an account it "
            "touches; history is never rewritten"
        )
        self.at = at
        self.latest = latest


class UnknownApiKey(LedgerError):
    """Raised when an API key does not exist or was revoked."""

    def __init__(self, key: str) -> None:
        super().__init__(f"unknown or revoked API key {key!r}")
        self.key = key


class UnreadableSecret(LedgerError):
    """Raised when a stored API secret cannot be opened with the secret key.

    `kuledger serve` refuses to start on such a database; this is what is left
    for a row changed behind its back while it runs.
    """
