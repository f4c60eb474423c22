"""Reading a JSON request body strictly, naming the field in every error."""

from __future__ import annotations

from typing import Any

import orjson

from kuledger.http.errors import UnsupportedMediaType
from kuledger.http.params import InvalidParameter


class JsonBody:
    def __init__(self, raw: bytes, content_type: str | None) -> None:
        if content_type is None or "application/json" not in content_type.lower():
            raise UnsupportedMediaType("Content-Type must be application/json")
        try:
            value = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            raise InvalidParameter(
                "body", "the request body is not valid JSON"
            ) from None
        if not isinstance(value, dict):
            raise InvalidParameter("body", "the request body must be a JSON object")
        self._value: dict[str, Any] = value

    def text(
        self, name: str, *, required: bool = True, max_len: int = 128
    ) -> str | None:
        value = self._value.get(name)
        if value is None or value == "":
            if required:
                raise InvalidParameter(name, f"{name} is required")
            return None
        if not isinstance(value, str) or len(value) > max_len:
            raise InvalidParameter(
                name, f"{name} must be a string of at most {max_len} chars"
            )
        if "\x00" in value:  # PostgreSQL text cannot hold NUL
            raise InvalidParameter(name, f"{name} must not contain NUL")
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name)
        if value not in allowed:
            raise InvalidParameter(name, f"{name} not in the given range")
        assert value is not None
        return value

    def amount(self, name: str) -> object:
        value = self._value.get(name)
        if value is None:
            raise InvalidParameter(name, f"{name} is required")
        if isinstance(value, float | bool):
            raise InvalidParameter(name, f"{name} must be a decimal string")
        return value
