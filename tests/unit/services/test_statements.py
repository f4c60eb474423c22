"""The statement's pure rules: month bounds, and walking every user page by page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kuledger.domain.errors import InvalidInput
from kuledger.domain.users import User
from kuledger.services.statements import USERS_PAGE, Month, balances_of_everyone


def ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp()) * 1000


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-01", ms(2026, 1, 1), ms(2026, 2, 1) - 1),
        ("2025-12", ms(2025, 12, 1), ms(2026, 1, 1) - 1),  # into the next year
        ("2024-02", ms(2024, 2, 1), ms(2024, 2, 29) + 86_400_000 - 1),  # leap day
        (" 2023-02 ", ms(2023, 2, 1), ms(2023, 3, 1) - 1),
    ],
)
def test_a_month_is_its_utc_calendar_month_both_ends_inclusive(text, start, end):
    month = Month.parse(text)
    assert (month.start, month.end) == (start, end)
    assert month.name == text.strip()


@pytest.mark.parametrize("text", ["2026-00", "2026-13", "2026-1", "26-01", "2026/01"])
def test_anything_else_is_refused_naming_the_field(text):
    with pytest.raises(InvalidInput) as refused:
        Month.parse(text)
    assert refused.value.field == "month"


class PagedUsers:
    """Users by uid, as SqlOperatorQueries pages them (pure logic: a fake)."""

    def __init__(self, count: int) -> None:
        self.uids = [f"u{n:05d}" for n in range(count)]
        self.pages: list[str | None] = []

    def users(self, after: str | None, limit: int) -> list[User]:
        self.pages.append(after)
        later = [u for u in self.uids if after is None or u > after]
        return [User(u, None, 0, False, 0) for u in later[:limit]]

    def accounts(self, uid: str) -> list[object]:
        return []


@pytest.mark.parametrize("count", [0, 1, USERS_PAGE, 2 * USERS_PAGE + 7])
def test_every_user_is_walked_once_in_uid_order(count):
    queries = PagedUsers(count)
    walked = [uid for uid, _ in balances_of_everyone(queries, 1000)]  # type: ignore[arg-type]
    assert walked == queries.uids
    assert len(queries.pages) == count // USERS_PAGE + 1
