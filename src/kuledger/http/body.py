"""A JSON request body as Fields (domain/fields.py), read as strictly as a
query string: the exact media type, and an object key given twice refused
(the client's signature and our reading could disagree about which counts)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from kuledger.domain.errors import InvalidInput
from kuledger.domain.fields import BODY, Fields
from kuledger.http.errors import BodyTooLarge, UnsupportedMediaType

# application/json, then optional parameters (RFC 9110 8.3.1); a charset must
# be UTF-8, the only encoding JSON has (RFC 8259 8.1).
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(
    rf'application/json(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|"[^"\\]*"))*[ \t]*',
    re.IGNORECASE | re.ASCII,  # without ASCII, IGNORECASE takes U+017F for "s"
)
_PARAMETER = re.compile(rf'({_TOKEN})=({_TOKEN}|"[^"\\]*")')


async def read_body(
    receive: Receive, limit: int, content_length: str | None = None
) -> bytes:
    """A request's body from ASGI `receive`, refused with BodyTooLarge past
    `limit` bytes: at once when its Content-Length says so, else as soon as
    what arrived passes it (a client may send more than it declared)."""
    # ASCII digits only: "²".isdigit() is true, int("²") raises. (uvicorn's
    # parsers refuse such a Content-Length; other ASGI servers may not.)
    declared = content_length or ""
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body larger than {limit} bytes")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":  # as Request.stream() does
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def body_fields(raw: bytes, content_type: str | None) -> Fields:
    if not is_json_media_type(content_type):
        raise UnsupportedMediaType("Content-Type must be application/json")
    try:
        value = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise InvalidInput("body", "the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidInput("body", "the request body must be a JSON object")
    # orjson keeps the last of duplicate keys and cannot report them; the
    # standard library's parser can (a second pass, on at most 64 KiB).
    try:
        json.loads(raw, object_pairs_hook=_refuse_duplicates)
    except RecursionError:  # orjson allows 1024 levels, this parser fewer
        raise InvalidInput("body", "the request body is nested too deeply") from None
    return Fields(value, BODY)


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json`, any case, with optional parameters; a charset,
    if given, is UTF-8."""
    if content_type is None or not _MEDIA_TYPE.fullmatch(content_type):
        return False
    for name, value in _PARAMETER.findall(content_type.partition(";")[2]):
        if name.lower() == "charset" and value.strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in pairs:
        if name in found:
            shown = name[:64]
            raise InvalidInput(shown, f"{shown} is given more than once")
        found[name] = value
    return found


def exact_number(raw: bytes, name: str) -> str:
    """The JSON number at the body's top-level key `name` as a plain decimal
    string, read from the text the client sent (orjson reads numbers as
    binary floats: 0.1000000000000000055 would become 0.1). The caller has
    checked, by body_fields, that the body is one JSON object."""
    text = json.loads(raw, parse_float=str, parse_int=str)[name]
    number = Decimal(text)
    if not -40 <= number.as_tuple().exponent <= 40:  # type: ignore[operator]
        raise InvalidInput(name, f"{name} is not a valid amount")
    return format(number, "f")
