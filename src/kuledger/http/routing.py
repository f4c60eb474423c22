"""The endpoint table: each endpoint's method, path, permission, rate-limit pool
and weight, and its handler. One place to read what the API serves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kuledger.domain.users import Permission

if TYPE_CHECKING:
    from kuledger.http.context import Call

Handler = Callable[["Call"], Any]  # returns the envelope's `data`


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    permission: Permission | None = Permission.GENERAL  # None: public, unsigned
    pool: str = "Public"
    weight: int = 1
    kucoin_doc: str = ""
    params: tuple[dict[str, Any], ...] = field(default=())  # OpenAPI parameters
    response: dict[str, Any] = field(default_factory=dict)  # schema of `data`

    @property
    def signed(self) -> bool:
        return self.permission is not None
