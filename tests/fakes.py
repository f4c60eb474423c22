"""Test doubles for pure-logic unit tests: a controllable clock."""

from __future__ import annotations


class FakeClock:
    """Milliseconds that only move when a test says so."""

    def __init__(self, now: int = 1_790_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        self.now += ms
        return self.now
