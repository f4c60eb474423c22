"""A JSON request body as Fields (domain/fields.py)."""

from __future__ import annotations

import orjson

from kuledger.domain.errors import InvalidInput
from kuledger.domain.fields import BODY, Fields
from kuledger.http.errors import UnsupportedMediaType


def body_fields(raw: bytes, content_type: str | None) -> Fields:
    if content_type is None or "application/json" not in content_type.lower():
        raise UnsupportedMediaType("Content-Type must be application/json")
    try:
        value = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise InvalidInput("body", "the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidInput("body", "the request body must be a JSON object")
    return Fields(value, BODY)
