"""Users and their API keys."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from kuledger.domain.errors import InvalidInput

MAX_VIP_LEVEL = 12


@dataclass(frozen=True, slots=True)
class User:
    """A ledger user. Sub-accounts name their master in `parent_uid`.

    `hf` users trade from `trade_hf` accounts, as KuCoin's migrated users do.
    """

    uid: str
    parent_uid: str | None = None
    vip_level: int = 0
    hf: bool = False
    created_at: int = 0


def check_vip_level(level: int) -> int:
    if not 0 <= level <= MAX_VIP_LEVEL:
        raise InvalidInput("vip", f"VIP level must be 0..{MAX_VIP_LEVEL}, got {level}")
    return level


class Permission(enum.StrEnum):
    GENERAL = "General"
    SPOT = "Spot"
    MARGIN = "Margin"
    FUTURES = "Futures"
    FLEX_TRANSFERS = "FlexTransfers"
    WITHDRAWAL = "Withdrawal"

    @classmethod
    def parse_list(cls, text: str) -> frozenset[Permission]:
        chosen = set()
        for name in filter(None, (p.strip() for p in text.split(","))):
            try:
                chosen.add(cls(name))
            except ValueError:
                names = ", ".join(p.value for p in cls)
                raise InvalidInput(
                    "permissions", f"unknown permission {name!r}; one of {names}"
                ) from None
        return frozenset(chosen)


def parse_networks(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list of CIDRs or addresses into canonical CIDRs."""
    networks = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise InvalidInput("ip", f"not an IP address or CIDR: {item!r}") from None
    return tuple(networks)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key. `secret` and `passphrase` are plaintext only in memory."""

    key: str
    uid: str
    secret: str
    passphrase: str
    permissions: frozenset[Permission]
    ip_whitelist: tuple[str, ...]
    key_version: int
    created_at: int
    revoked: bool = False

    def allows_ip(self, address: str | None) -> bool:
        if not self.ip_whitelist:
            return True
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(net) for net in self.ip_whitelist)
