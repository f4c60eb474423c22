"""Units of time: every time in kuledger is an integer of UTC milliseconds."""

from __future__ import annotations

DAY_MS = 86_400_000
