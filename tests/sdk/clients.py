"""Both SDK clients behind one face, so that one test body runs each.

`Blocking` drives an AsyncKucoinClient on an event loop of its own and answers
as KucoinClient does: awaited methods return their result, `iter_ledger` is a
plain iterator that awaits one entry at a time, `with` enters and leaves the
async context. `Clients` builds the flavour a test is parametrised with.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Self

from kuledger_client import AsyncKucoinClient, KucoinClient

FLAVOURS = ["sync", "async"]


class Blocking:
    """An AsyncKucoinClient with KucoinClient's blocking face."""

    def __init__(self, client: AsyncKucoinClient) -> None:
        self.wrapped = client
        self._runner = asyncio.Runner()
        self.closed = False

    def __enter__(self) -> Self:
        self._runner.run(self.wrapped.__aenter__())
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._runner.run(self.wrapped.__aexit__(*exc_info))
        self._finish()

    def close(self) -> None:
        self._runner.run(self.wrapped.aclose())
        self._finish()

    def _finish(self) -> None:
        if not self.closed:
            self.closed = True
            self._runner.close()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.wrapped, name)
        if inspect.isasyncgenfunction(attribute):
            return lambda *args, **kwargs: self._iterate(attribute(*args, **kwargs))
        if inspect.iscoroutinefunction(attribute):
            return lambda *args, **kwargs: self._runner.run(attribute(*args, **kwargs))
        return attribute  # a property: base_url, last_rate_limit, ...

    def _iterate(self, entries: AsyncIterator[Any]) -> Iterator[Any]:
        async def step() -> Any:
            return await anext(entries)

        while True:
            try:
                yield self._runner.run(step())
            except StopAsyncIteration:
                return


class Clients:
    """Makes clients of one flavour and closes what is left open at teardown.
    A blocking `sleep` option is awaited by the async flavour."""

    def __init__(self, flavour: str) -> None:
        self.flavour = flavour
        self._made: list[KucoinClient | Blocking] = []

    def __call__(self, *credentials: Any, **options: Any) -> KucoinClient:
        client: KucoinClient | Blocking
        if self.flavour == "sync":
            client = KucoinClient(*credentials, **options)
        else:
            if "sleep" in options:
                options["sleep"] = _awaitable(options["sleep"])
            client = Blocking(AsyncKucoinClient(*credentials, **options))
        self._made.append(client)
        return client  # type: ignore[return-value]  # Blocking answers alike

    def close(self) -> None:
        for client in self._made:
            if not (isinstance(client, Blocking) and client.closed):
                client.close()


def _awaitable(sleep: Callable[[float], None]) -> Callable[[float], Any]:
    async def awaited(seconds: float) -> None:
        sleep(seconds)

    return awaited
