"""Reading the explorer's query strings and forms: filters, cursors, times.

Times are UTC: a form's `datetime-local` value (2026-01-31T23:59), an ISO
8601 time (2026-01-31T23:59:59Z) or milliseconds since the epoch. A value
the explorer cannot read is refused with a message, never guessed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

from kuledger.domain import biztypes
from kuledger.services.explorer import Cursor, EntryFilter

MAX_FORM_BYTES = 8 * 1024
BIZ_CODES = tuple(sorted(b.code for b in biztypes.CATALOGUE))
FILTER_NAMES = ("bizType", "direction", "from", "to")
_MS = re.compile(r"[0-9]{1,16}")
_SEQ = re.compile(r"[0-9]{1,18}")
_STEM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:]*)?")  # up to the seconds
# An end time to the day, minute or second covers all of it.
_REST_OF = {10: 86_399_999, 16: 59_999, 19: 999}


class BadParameter(ValueError):
    """A parameter the explorer cannot read; the message names it."""


def parse_time(name: str, text: str, end: bool = False) -> int:
    """Milliseconds from a UTC time. `end`: a time given to the minute or
    second covers all of it (to 23:59 is to 23:59:59.999)."""
    text = text.strip()
    if _MS.fullmatch(text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadParameter(f"{name}: not a time (use 2026-01-31T23:59:59Z)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    ms = int(parsed.timestamp() * 1000)
    stem = _STEM.match(text)
    if end and stem is not None:
        ms += _REST_OF.get(len(stem.group()), 0)
    return ms


def when(ms: int | None) -> str:
    """A time as the pages show it: UTC to the millisecond."""
    if ms is None:
        return ""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d} UTC"


def entry_filter(query: Mapping[str, str]) -> EntryFilter:
    biz = query.get("bizType") or ""
    if biz and biz not in BIZ_CODES:
        raise BadParameter(f"bizType: unknown business type {biz!r}")
    direction = query.get("direction") or None
    if direction not in (None, "in", "out"):
        raise BadParameter("direction: in or out")
    start = parse_time("from", query["from"]) if query.get("from") else None
    end = parse_time("to", query["to"], end=True) if query.get("to") else None
    if start is not None and end is not None and start > end:
        raise BadParameter("from is after to")
    return EntryFilter((biz,) if biz else (), direction, start, end)


def cursor(query: Mapping[str, str]) -> Cursor:
    found = {}
    for name in ("before", "after"):
        text = query.get(name)
        if text:
            if not _SEQ.fullmatch(text):
                raise BadParameter(f"{name}: a sequence number")
            found[name] = int(text)
    if len(found) == 2:
        raise BadParameter("before and after: one at a time")
    return Cursor(found.get("before"), found.get("after"))


def link(query: Mapping[str, str], **changes: object) -> str:
    """The query string of the same filters with `changes` (None drops one)."""
    kept = {k: query[k] for k in FILTER_NAMES if query.get(k)}
    for name, value in changes.items():
        if value is None:
            kept.pop(name, None)
        else:
            kept[name] = str(value)
    return "?" + urlencode(kept) if kept else ""


def form_fields(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body; a name given twice refused."""
    if len(body) > MAX_FORM_BYTES:
        raise BadParameter("the form is too large")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadParameter("the form is not UTF-8") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise BadParameter(f"{name}: given twice")
        fields[name] = value
    return fields
