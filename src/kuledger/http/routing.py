"""The endpoint record: each endpoint's method, path, permission, rate-limit
pool and weight, whether it runs inline, and its handler. The table of them is
`kuledger.http.endpoints.ENDPOINTS`: one place to read what the API serves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kuledger.domain.users import Permission

if TYPE_CHECKING:
    from kuledger.http.context import Call

Handler = Callable[["Call"], Any]  # returns the envelope's `data`


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    permission: Permission | None = Permission.GENERAL  # None: public, unsigned
    pool: str = "Public"
    weight: int = 1
    kucoin_doc: str = ""
    params: tuple[dict[str, Any], ...] = field(default=())  # OpenAPI parameters
    response: dict[str, Any] = field(default_factory=dict)  # schema of `data`
    # A read that is a few index lookups on SQLite (a bounded window or page):
    # it runs on the event loop, not in a worker thread, when nothing it calls
    # waits on the network (see kuledger.http.app.runs_inline). Handing a
    # request to a thread and back cost more than the request's own work
    # (profiled under load: ~20% of a worker's CPU went to waking threads and
    # passing the GIL), and queued threads made latency uneven.
    inline: bool = False

    @property
    def signed(self) -> bool:
        return self.permission is not None
