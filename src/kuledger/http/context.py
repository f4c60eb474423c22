"""What a handler gets: the request's parts, the caller, and the services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.datastructures import QueryParams

from kuledger.config import Settings
from kuledger.domain.fields import Fields
from kuledger.http.auth import Authenticator, Principal
from kuledger.http.params import query_fields
from kuledger.http.rate_policy import RateLimitPolicy
from kuledger.http.stream import StreamServices
from kuledger.services.account_info import AccountInfoQueries
from kuledger.services.fees import FeeStore
from kuledger.services.funding import FundingQueries
from kuledger.services.operator import Writer
from kuledger.services.paging import PageCursors
from kuledger.services.ports import (
    Clock,
    EventSink,
    LedgerReader,
    SecretBox,
    UnitOfWorkFactory,
)


@dataclass(frozen=True, slots=True)
class ApiServices:
    """Everything the HTTP edge uses, injected by the composition root."""

    settings: Settings
    reader: LedgerReader
    uow: UnitOfWorkFactory
    clock: Clock
    authenticator: Authenticator
    ratelimit: RateLimitPolicy | None = None
    events: EventSink | None = None  # committed balance changes go here
    stream: StreamServices | None = None  # the private WebSocket's balance stream
    write: Writer | None = None  # applies transfers (None: services.ledger.apply)
    page_cursors: PageCursors = field(default_factory=PageCursors)
    fees: FeeStore | None = None  # None: every user pays services.fees.DEFAULTS
    account_info: AccountInfoQueries | None = None  # None: no sub-accounts seen
    box: SecretBox | None = None  # seals the API keys issued over the API
    funding: FundingQueries | None = None  # deposits and withdrawals, read side
    # Whether the short reads (Endpoint.inline) may run on the event loop:
    # the composition root decides it for the database (bootstrap.inline_reads).
    inline_reads: bool = False


@dataclass(frozen=True, slots=True)
class Call:
    services: ApiServices
    principal: Principal | None
    query_params: QueryParams
    path_params: dict[str, str]
    body: bytes
    client_ip: str | None
    content_type: str | None = None
    # scheme://host[:port]/ as the client called it; built only when asked
    # (by the bullet endpoints): building it cost 3% of a ledger request.
    base_url_of: Callable[[], str] = str  # str() is ""

    @property
    def base_url(self) -> str:
        return self.base_url_of()

    @property
    def query(self) -> Fields:
        return query_fields(self.query_params)

    @property
    def uid(self) -> str:
        assert self.principal is not None, "handler of a public endpoint asked for uid"
        return self.principal.uid
