"""Times on the command line: dates, ISO-8601 times, epoch milliseconds and
"N days ago", all read as UTC unless an offset says otherwise."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime
from datetime import time as dtime

import click

from kuledger.domain.times import DAY_MS

DAYS_AGO = re.compile(r"([0-9]{1,6})d")


def parse_time(
    text: str,
    *,
    end_of_day: bool = False,
    option: str = "DATE",
    now: int | None = None,
) -> int:
    """YYYY-MM-DD (midnight UTC; with end_of_day its last millisecond), an
    ISO-8601 time (UTC unless it has an offset), epoch milliseconds, or Nd:
    N days before now."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    if days := DAYS_AGO.fullmatch(value):
        current = now if now is not None else int(time.time() * 1000)
        return current - int(days[1]) * DAY_MS
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day, dtime.min, tzinfo=UTC)
            ms = int(moment.timestamp() * 1000)
            return ms + DAY_MS - 1 if end_of_day else ms
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not YYYY-MM-DD, ISO-8601, milliseconds or Nd (days ago)",
            param_hint=option,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
