"""The account views KuCoin computes from balances: the account summary
(sub-account counts and quotas), cross and isolated margin balances by
currency, and their value in a quote currency. kuledger lends nothing, so
every liability is zero."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from kuledger.domain.accounts import Account, AccountType
from kuledger.domain.money import ZERO
from kuledger.domain.subaccounts import SubAccount
from kuledger.domain.users import Permission, User

# KuCoin's quota for a VIP 0 master (its user-info example): kuledger has no
# paid extra quota, so the maximum is the default, or the count if the
# operator created more.
DEFAULT_SUB_QUOTA = 5


# A sub-account, and the permissions of its live keys (their union).
SubAndKeys = tuple[SubAccount, frozenset[str]]


class AccountInfoQueries(Protocol):
    def sub_accounts(self, uid: str) -> list[SubAndKeys]:
        """The master's sub-accounts (storage/subaccounts.py's listing)."""
        ...

    def key_labels(self, key: str, uid: str) -> tuple[str, str | None]: ...


@dataclass(frozen=True, slots=True)
class AccountSummary:
    level: int
    subs: int
    margin_subs: int  # sub-accounts with margin enabled, or a live key allowed it
    futures_subs: int  # ... allowed Futures
    max_subs: int


def account_summary(user: User, subs: Sequence[SubAndKeys]) -> AccountSummary:
    granted = [sub.permissions(keys) for sub, keys in subs]

    def allowed(p: Permission) -> int:
        return sum(1 for permissions in granted if p.value in permissions)

    return AccountSummary(
        level=user.vip_level,
        subs=len(subs),
        margin_subs=allowed(Permission.MARGIN),
        futures_subs=allowed(Permission.FUTURES),
        max_subs=max(DEFAULT_SUB_QUOTA, len(subs)),
    )


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    total: Decimal
    available: Decimal
    hold: Decimal


def balances(
    accounts: Iterable[Account], types: Iterable[AccountType]
) -> list[Balance]:
    """The accounts of `types`, summed per currency (margin + margin_v2 for
    queryType=ALL), in currency order."""
    wanted = frozenset(types)
    sums: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
    for a in accounts:
        if a.key.type in wanted:
            t, av, h = sums.get(a.key.currency, (ZERO, ZERO, ZERO))
            sums[a.key.currency] = (t + a.balance, av + a.available, h + a.holds)
    return [Balance(c, *sums[c]) for c in sorted(sums)]


def value_in(
    rows: Iterable[Balance], quote: str, usdt_price: Callable[[str], Decimal]
) -> Decimal:
    """The balances' worth in `quote`, at the catalogue's static prices."""
    total = sum((b.total * usdt_price(b.currency) for b in rows), ZERO)
    return total / usdt_price(quote)


Pair = tuple[str, str]  # (base, quote) codes


def isolated_positions(
    held: Iterable[str], pairs: list[Pair]
) -> list[tuple[Pair, bool, bool]]:
    """Which isolated symbols show the held currencies, each currency in
    exactly one (so a client that adds the positions up, as ccxt does, counts
    it once): a base currency in the first symbol it is the base of, any other
    in a symbol already shown that it quotes, else the first it quotes. Each
    (pair, shows its base, shows its quote), in catalogue order; a currency in
    no pair shows nowhere (the totals still count it)."""
    owned: dict[Pair, list[bool]] = {}
    rest = []
    for code in sorted(set(held)):
        pair = next((p for p in pairs if p[0] == code), None)
        if pair is None:
            rest.append(code)
        else:
            owned.setdefault(pair, [False, False])[0] = True
    for code in rest:
        quoted = [p for p in pairs if p[1] == code]
        pair = next((p for p in quoted if p in owned), quoted[0] if quoted else None)
        if pair is not None:
            owned.setdefault(pair, [False, False])[1] = True
    return [(p, owned[p][0], owned[p][1]) for p in pairs if p in owned]
