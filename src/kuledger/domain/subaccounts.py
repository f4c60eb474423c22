"""Sub-accounts: a master's named users, their trade types, and the rules for
the names, passwords and remarks KuCoin accepts when one is created."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from kuledger.domain.errors import InvalidInput

ACCESS = ("Spot", "Futures", "Margin")  # what `access` may name at creation
# KuCoin's sub-account permissions as its sub-account API keys spell them, and
# the kuledger permission each grants ("InnerTransfer" is the flex transfer).
KEY_PERMISSIONS = {
    "General": "General",
    "Spot": "Spot",
    "Trade": "Spot",
    "Futures": "Futures",
    "Margin": "Margin",
    "InnerTransfer": "FlexTransfers",
    "FlexTransfers": "FlexTransfers",
}
KEY_EXPIRY_DAYS = ("-1", "30", "90", "180", "360")  # "-1": never
MAX_KEY_IPS = 20

_NAME = re.compile(r"[A-Za-z0-9]{7,32}")
_PASSWORD = re.compile(r"[A-Za-z0-9]{7,24}")


@dataclass(frozen=True, slots=True)
class SubAccount:
    """A sub-account: a user whose `parent_uid` is its master.

    A user made a sub-account by the operator (`kuledger users create
    --parent`) has no name of its own: its uid is its name."""

    uid: str
    parent_uid: str
    name: str
    remarks: str = ""
    access: str = "Spot"
    margin: bool = False  # margin trading enabled (/api/v3/sub/user/margin/enable)
    futures: bool = False  # futures trading enabled
    created_at: int = 0

    @property
    def trade_types(self) -> list[str]:
        """Spot always; Margin and Futures when granted at creation or later."""
        types = ["Spot"]
        if self.margin or self.access == "Margin":
            types.append("Margin")
        if self.futures or self.access == "Futures":
            types.append("Futures")
        return types

    def permissions(self, key_permissions: Iterable[str]) -> frozenset[str]:
        """What the sub-account may do, as the account summary counts it: its
        trade types, and whatever its live keys (`key_permissions`) allow."""
        return frozenset(self.trade_types).union(key_permissions)


def check_sub_name(name: str) -> str:
    """7 to 32 letters and digits, at least one of each (KuCoin's rule)."""
    if not _NAME.fullmatch(name) or name.isdigit() or name.isalpha():
        raise InvalidInput(
            "subName",
            "subName must be 7-32 letters and digits, with at least one of each",
        )
    return name


def check_password(password: str) -> None:
    """7 to 24 letters and digits, with at least one letter and one digit."""
    if not _PASSWORD.fullmatch(password) or password.isdigit() or password.isalpha():
        raise InvalidInput(
            "password",
            "password must be 7-24 letters and digits, with at least one of each",
        )


def check_remarks(remarks: str | None, field: str = "remarks") -> str:
    if remarks is None:
        return ""
    if not 1 <= len(remarks) <= 24:
        raise InvalidInput(field, f"{field} must be 1-24 characters")
    return remarks


def check_key_passphrase(passphrase: str) -> str:
    """A sub-account key's passphrase: 7 to 32 characters, no spaces."""
    if not 7 <= len(passphrase) <= 32 or any(c.isspace() for c in passphrase):
        raise InvalidInput(
            "passphrase", "passphrase must be 7-32 characters without spaces"
        )
    return passphrase


def key_permissions(text: str | None) -> frozenset[str]:
    """A sub-account key's `permission` list ("General,Spot", "General, Trade")
    as kuledger permission names; General is always included."""
    chosen = {"General"}
    for name in filter(None, (p.strip() for p in (text or "").split(","))):
        if name not in KEY_PERMISSIONS:
            names = ", ".join(KEY_PERMISSIONS)
            raise InvalidInput(
                "permission", f"unknown permission {name!r}; one of {names}"
            )
        chosen.add(KEY_PERMISSIONS[name])
    return frozenset(chosen)


_WIRE_ORDER = ("General", "Spot", "Margin", "Futures", "FlexTransfers")
_WIRE_NAME = {"FlexTransfers": "InnerTransfer"}


def key_permission_text(permissions: frozenset[str]) -> str:
    """Permissions as a sub-account key's `permission` shows them: "General,Spot"."""
    return ",".join(_WIRE_NAME.get(p, p) for p in _WIRE_ORDER if p in permissions)
