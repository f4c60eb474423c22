"""Pending: a handler's answer that waits for a queued write (group commit).

A handler runs in a worker thread as far as its write (parsing, checks that
read the database, authentication before it), queues the write and returns
a Pending; the endpoint awaits the write's future on the event loop. So a
waiting request holds no thread, and hundreds of concurrent requests wait
in one batch: a request that waited in its thread capped a batch at
KULEDGER_THREADS operations.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

from kuledger.services.operator import Outcome

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Pending(Generic[T]):
    future: Future[list[Outcome]]  # resolved after the batch's COMMIT
    # The handler's data from the resolved future (its .result() returns the
    # outcomes or raises); runs on the event loop, so it does no I/O.
    answer: Callable[[Future[list[Outcome]]], T]


# A write's answer: its data now (applied in the handler's own transaction),
# or once the queued write has committed.
Answer: TypeAlias = T | Pending[T]


async def settle(pending: Pending[T]) -> T:
    """Wait for the write without a thread, then make the answer."""
    with contextlib.suppress(Exception):  # the answer reads it from the future
        await asyncio.wrap_future(pending.future)
    return pending.answer(pending.future)
