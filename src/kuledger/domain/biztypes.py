"""The business-type catalogue: every reason a balance moves.

Each type has KuCoin's display name (the seed page's BizType table), the
upper-snake code kuledger returns by default, and the `bizType` filter value of
GET /api/v1/accounts/ledgers that selects it (None: only reachable unfiltered).
"""

from __future__ import annotations

from dataclasses import dataclass

from kuledger.domain.errors import UnknownBizType


@dataclass(frozen=True, slots=True)
class BizType:
    code: str
    display: str
    spot_filter: str | None = None
    hf_filter: str | None = None


def _bt(
    code: str, display: str, spot: str | None = None, hf: str | None = None
) -> BizType:
    return BizType(code, display, spot, hf)


CATALOGUE: tuple[BizType, ...] = (
    _bt("DEPOSIT", "Deposit", "DEPOSIT"),
    _bt("WITHDRAW", "Withdrawal", "WITHDRAW"),
    _bt("TRANSFER", "Transfer", "TRANSFER", "TRANSFER"),
    _bt("SUB_TRANSFER", "Sub Account Transfer", "SUB_TRANSFER", "SUB_TRANSFER"),
    _bt("TRADE_EXCHANGE", "Trade_Exchange", "TRADE_EXCHANGE", "TRADE_EXCHANGE"),
    _bt("MARGIN_EXCHANGE", "Margin Trade", "MARGIN_EXCHANGE"),
    _bt("ISOLATED_EXCHANGE", "Isolated Margin Trade"),
    _bt("KUCOIN_BONUS", "KuCoin Bonus", "KUCOIN_BONUS", "OTHER"),
    _bt("BROKER_TRANSFER", "BROKER_TRANSFER", "BROKER_TRANSFER", "OTHER"),
    _bt(
        "ASSETS_TRANSFERRED_IN_AFTER_UPGRADING", "Assets Transferred in After Upgrading"
    ),
    _bt("VOTE_FOR_COIN", "Vote for Coin"),
    _bt("REFERRAL_BONUS", "Referral Bonus", None, "OTHER"),
    _bt("REWARDS", "Rewards", None, "OTHER"),
    _bt("DISTRIBUTION", "Distribution", None, "OTHER"),
    _bt("AIRDROP_FORK", "Airdrop/Fork", None, "OTHER"),
    _bt("OTHER_REWARDS", "Other rewards", None, "OTHER"),
    _bt("FEE_REBATE", "Fee Rebate", None, "RETURNED_FEES"),
    _bt("BUY_CRYPTO", "Buy Crypto"),
    _bt("SELL_CRYPTO", "Sell Crypto"),
    _bt("PUBLIC_OFFERING_PURCHASE", "Public Offering Purchase"),
    _bt("SEND_RED_ENVELOPE", "Send red envelope"),
    _bt("OPEN_RED_ENVELOPE", "Open red envelope"),
    _bt("STAKING", "Staking"),
    _bt("LOCKDROP_VESTING", "LockDrop Vesting"),
    _bt("STAKING_PROFITS", "Staking Profits"),
    _bt("REDEMPTION", "Redemption"),
    _bt("REFUNDED_FEES", "Refunded Fees", None, "RETURNED_FEES"),
    _bt("KCS_PAY_FEES", "KCS Pay Fees", None, "DEDUCTION_FEES"),
    _bt("LOANS", "Loans"),
    _bt("BORROWINGS", "Borrowings"),
    _bt("DEBT_REPAYMENT", "Debt Repayment"),
    _bt("LOANS_REPAID", "Loans Repaid"),
    _bt("LENDINGS", "Lendings"),
    _bt("POOL_TRANSACTIONS", "Pool transactions"),
    _bt("INSTANT_EXCHANGE", "Instant Exchange"),
    _bt("LIQUIDATION_FEES", "Liquidation Fees"),
    _bt("SOFT_STAKING_PROFITS", "Soft Staking Profits"),
    _bt("VOTING_EARNINGS", "Voting Earnings"),
    _bt("REDEMPTION_OF_VOTING", "Redemption of Voting"),
    _bt("CONVERT_TO_KCS", "Convert to KCS"),
    _bt("REALISED_PNL", "RealisedPNL"),
)

BY_CODE: dict[str, BizType] = {b.code: b for b in CATALOGUE}
_BY_NAME: dict[str, BizType] = {
    **{b.display.casefold(): b for b in CATALOGUE},
    **{b.code.casefold(): b for b in CATALOGUE},
}

# The `bizType` values GET /api/v1/accounts/ledgers accepts (case-sensitive).
SPOT_FILTERS: frozenset[str] = frozenset(
    b.spot_filter for b in CATALOGUE if b.spot_filter
)


def lookup(name: object, field: str = "biz_type") -> BizType:
    """Find a business type by code or display name, ignoring case."""
    found = _BY_NAME.get(name.casefold()) if isinstance(name, str) else None
    if found is None:
        raise UnknownBizType(field, f"{field} not in the catalogue: {name!r}")
    return found


def codes_for_spot_filter(filter_code: str) -> tuple[str, ...]:
    """The response codes a spot `bizType` filter value selects."""
    return tuple(b.code for b in CATALOGUE if b.spot_filter == filter_code)


# The `bizType` values GET /api/v1/hf/accounts/ledgers accepts (case-sensitive).
HF_FILTERS: tuple[str, ...] = (
    "TRADE_EXCHANGE",
    "TRANSFER",
    "SUB_TRANSFER",
    "RETURNED_FEES",
    "DEDUCTION_FEES",
    "OTHER",
)


def codes_for_hf_filter(filter_code: str) -> tuple[str, ...]:
    """The response codes an HF `bizType` filter selects; OTHER is the rest."""
    if filter_code == "OTHER":
        named = {"TRADE_EXCHANGE", "TRANSFER", "SUB_TRANSFER"}
        return tuple(
            b.code
            for b in CATALOGUE
            if b.hf_filter in (None, "OTHER") and b.code not in named
        )
    return tuple(b.code for b in CATALOGUE if b.hf_filter == filter_code)
