"""Which tax category each business type is, and how Koinly and CoinTracking
name it (docs/export.md has the table; tests/cli/test_export_tax_formats.py
checks the two agree).

Koinly's labels and CoinTracking's types are those of their published import
formats (Koinly's tags, CoinTracking's transaction types; docs/export.md names
the sources). Movements between the user's own accounts at the
exchange are INTERNAL: no tax event, left out of both tools' files."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kuledger.domain import biztypes
from kuledger.domain.errors import UnknownBizType


class Category(enum.Enum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    OWN_TRANSFER = "transfer to or from another own account"
    INTERNAL = "internal (not exported)"
    TRADE = "trade"
    REWARD = "reward / bonus"
    STAKING = "staking income"
    AIRDROP = "airdrop"
    FEE_REFUND = "fee refund"
    FEE = "fee (expense)"
    GIFT = "gift"
    LOAN = "loan / repayment"
    PNL = "realized profit or loss"


@dataclass(frozen=True, slots=True)
class Names:
    """What a category is called when it comes in / goes out."""

    koinly_in: str
    koinly_out: str
    cointracking_in: str
    cointracking_out: str


NAMES: dict[Category, Names] = {
    Category.DEPOSIT: Names("", "", "Deposit", "Withdrawal"),
    Category.WITHDRAWAL: Names("", "", "Deposit", "Withdrawal"),
    # Koinly and CoinTracking match a withdrawal with the deposit in the
    # other wallet (the sub-account imported as a wallet of its own).
    Category.OWN_TRANSFER: Names("", "", "Deposit", "Withdrawal"),
    Category.INTERNAL: Names("", "", "", ""),
    Category.TRADE: Names("", "", "Trade", "Trade"),
    Category.REWARD: Names("reward", "", "Reward / Bonus", "Withdrawal"),
    Category.STAKING: Names("reward", "", "Staking", "Withdrawal"),
    Category.AIRDROP: Names("airdrop", "", "Airdrop", "Withdrawal"),
    Category.FEE_REFUND: Names("fee refund", "", "Income (non taxable)", "Withdrawal"),
    Category.FEE: Names("", "cost", "Deposit", "Other Fee"),
    Category.GIFT: Names("other income", "gift", "Gift/Tip(In)", "Gift(Out)"),
    Category.LOAN: Names(
        "loan", "loan repayment", "Income (non taxable)", "Expense (non taxable)"
    ),
    Category.PNL: Names(
        "realized gain",
        "realized gain",
        "Derivatives / Futures Profit",
        "Derivatives / Futures Loss",
    ),
}

_CODES: dict[Category, tuple[str, ...]] = {
    Category.DEPOSIT: ("DEPOSIT", "ASSETS_TRANSFERRED_IN_AFTER_UPGRADING"),
    Category.WITHDRAWAL: ("WITHDRAW",),
    Category.OWN_TRANSFER: ("SUB_TRANSFER", "BROKER_TRANSFER"),
    Category.INTERNAL: (
        "TRANSFER",
        "STAKING",
        "REDEMPTION",
        "VOTE_FOR_COIN",
        "REDEMPTION_OF_VOTING",
        "LENDINGS",
        "POOL_TRANSACTIONS",
    ),
    Category.TRADE: (
        "TRADE_EXCHANGE",
        "MARGIN_EXCHANGE",
        "ISOLATED_EXCHANGE",
        "INSTANT_EXCHANGE",
        "CONVERT_TO_KCS",
        "BUY_CRYPTO",
        "SELL_CRYPTO",
        "PUBLIC_OFFERING_PURCHASE",
    ),
    Category.REWARD: ("KUCOIN_BONUS", "REFERRAL_BONUS", "REWARDS", "OTHER_REWARDS"),
    Category.STAKING: (
        "STAKING_PROFITS",
        "SOFT_STAKING_PROFITS",
        "VOTING_EARNINGS",
        "LOCKDROP_VESTING",
    ),
    Category.AIRDROP: ("DISTRIBUTION", "AIRDROP_FORK"),
    Category.FEE_REFUND: ("FEE_REBATE", "REFUNDED_FEES"),
    Category.FEE: ("KCS_PAY_FEES", "LIQUIDATION_FEES"),
    Category.GIFT: ("SEND_RED_ENVELOPE", "OPEN_RED_ENVELOPE"),
    Category.LOAN: ("LOANS", "BORROWINGS", "DEBT_REPAYMENT", "LOANS_REPAID"),
    Category.PNL: ("REALISED_PNL",),
}
BY_CODE: dict[str, Category] = {
    code: category for category, codes in _CODES.items() for code in codes
}
# The futures ledger's `type` values.
FUTURES: dict[str, Category] = {
    "RealisedPNL": Category.PNL,
    "Deposit": Category.DEPOSIT,
    "Withdrawal": Category.WITHDRAWAL,
    "TransferIn": Category.INTERNAL,
    "TransferOut": Category.INTERNAL,
}


def canonical(biz_type: str) -> str:
    """The catalogue code of a bizType given as code or display name (KuCoin
    answers display names); an unknown one as it is."""
    try:
        return biztypes.lookup(biz_type).code
    except UnknownBizType:
        return biz_type


def category_of(biz_type: str, futures: bool = False) -> Category:
    """An unknown business type is an ordinary deposit (or withdrawal)."""
    if futures:
        return FUTURES.get(biz_type, Category.DEPOSIT)
    return BY_CODE.get(canonical(biz_type), Category.DEPOSIT)
