"""Reading query parameters strictly: each bad value is an InvalidParameter
naming the parameter, which the edge turns into {"code":"400100"}."""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.datastructures import QueryParams

from kuledger.domain.errors import InvalidInput

MAX_MS = 9_999_999_999_999  # KuCoin's schema bound for millisecond times
_INTEGER = re.compile(r"-?[0-9]{1,19}")  # ASCII only: \d takes "١٢" too


class InvalidParameter(InvalidInput):
    """Raised when a request parameter is missing, malformed or out of range."""


class Query:
    """A request's query parameters; a parameter given twice is refused, since
    the client's signature and our reading could disagree about which counts."""

    def __init__(self, params: QueryParams) -> None:
        self._params = params
        items = params.multi_items()
        if len(items) == len(params):
            return  # every name once: the common case, no loop
        seen: set[str] = set()
        for name, _ in items:
            if name in seen:
                raise InvalidParameter(name, f"{name} is given more than once")
            seen.add(name)

    def text(self, name: str) -> str | None:
        value = self._params.get(name)
        if value and "\x00" in value:  # PostgreSQL text cannot hold NUL
            raise InvalidParameter(name, f"{name} must not contain NUL")
        return value if value else None

    def choice(self, name: str, allowed: Sequence[str]) -> str | None:
        value = self.text(name)
        if value is not None and value not in allowed:
            raise InvalidParameter(name, f"{name} not in the given range!")
        return value

    def integer(
        self, name: str, *, default: int | None = None, low: int = 0, high: int = MAX_MS
    ) -> int | None:
        value = self.text(name)
        if value is None:
            return default
        if not _INTEGER.fullmatch(value):
            raise InvalidParameter(
                name, f"{name} must be an integer, got {value[:40]!r}"
            )
        number = int(value)
        if not low <= number <= high:
            raise InvalidParameter(name, f"{name} must be between {low} and {high}")
        return number

    def codes(self, name: str) -> tuple[str, ...]:
        value = self.text(name)
        if value is None:
            return ()
        return tuple(
            dict.fromkeys(part.strip() for part in value.split(",") if part.strip())
        )
