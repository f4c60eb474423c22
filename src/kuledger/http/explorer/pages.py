"""The explorer's pages: each a function of the viewer and the request that
reads through the services and answers a template to render, a redirect or
JSON. They run in a worker thread (their queries block)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kuledger.domain.accounts import Account, AccountType
from kuledger.domain.money import to_wire
from kuledger.http.explorer.params import (
    BIZ_CODES,
    BadParameter,
    cursor,
    entry_filter,
    link,
)
from kuledger.http.explorer.session import Viewer
from kuledger.services import explorer, operator
from kuledger.services.explorer import ExplorerQueries
from kuledger.services.operator import OperatorQueries
from kuledger.services.operator_tokens import TokenStore
from kuledger.services.ports import LedgerReader, SecretBox

USERS_PAGE = 50


class Missing(Exception):
    """No such record, or one the viewer may not see: both answer 404, so a
    user cannot tell another user's records from records that do not exist."""


@dataclass(frozen=True, slots=True)
class Rendered:
    template: str
    context: dict[str, Any]
    status: int = 200


@dataclass(frozen=True, slots=True)
class Redirect:
    to: str  # below the explorer's mount point


@dataclass(frozen=True, slots=True)
class Json:
    data: Any


Result = Rendered | Redirect | Json


@dataclass(frozen=True, slots=True)
class PageRequest:
    path: Mapping[str, str]
    query: Mapping[str, str]
    viewer: Viewer
    extra: dict[str, Any] = field(default_factory=dict)


class Services(Protocol):
    """What the explorer uses of the operator listener's services
    (http/operator/endpoints.py's OperatorServices has all of it)."""

    @property
    def tokens(self) -> TokenStore: ...
    @property
    def queries(self) -> OperatorQueries: ...
    @property
    def reader(self) -> LedgerReader: ...
    @property
    def box(self) -> SecretBox: ...
    @property
    def explorer(self) -> ExplorerQueries | None: ...


@dataclass(frozen=True, slots=True)
class Reads:
    """What the pages read through."""

    services: Services
    queries: ExplorerQueries


Page = Callable[[Reads, PageRequest], Result]


def home(_: Reads, req: PageRequest) -> Result:
    v = req.viewer
    return Redirect("/users" if v.is_operator else f"/users/{v.uid}")


def users(r: Reads, req: PageRequest) -> Result:
    if not req.viewer.is_operator:
        return Redirect(f"/users/{req.viewer.uid}")
    after = req.query.get("after") or None
    found = r.services.queries.users(after, USERS_PAGE + 1)
    more = len(found) > USERS_PAGE
    found = found[:USERS_PAGE]
    return Rendered(
        "users.html",
        {"users": found, "next": found[-1].uid if more else None, "after": after},
    )


def user(r: Reads, req: PageRequest) -> Result:
    uid = req.path["uid"]
    if not req.viewer.may_see(uid):
        raise Missing(uid)
    found = r.services.reader.user(uid)
    if found is None:
        raise Missing(uid)
    accounts = r.services.queries.accounts(uid)
    return Rendered(
        "user.html",
        {
            "user": found,
            "accounts": accounts,
            "checkpoints": r.queries.checkpoints_of(uid),
            "types": [t.value for t in AccountType],
            "currencies": sorted({a.key.currency for a in accounts}),
        },
    )


def user_account(r: Reads, req: PageRequest) -> Result:
    """The account of a user, type and currency: the currency filter."""
    uid = req.path["uid"]
    if not req.viewer.may_see(uid):
        raise Missing(uid)
    type_text, currency = req.query.get("type", ""), req.query.get("currency", "")
    try:
        type_ = AccountType(type_text)
    except ValueError:
        raise BadParameter(f"type: unknown account type {type_text!r}") from None
    found = r.services.reader.accounts(uid, currency, type_)
    if not found:
        raise Missing(f"{uid} {type_text} {currency}")
    return Redirect(f"/accounts/{found[0].id}{link(req.query)}")


def _account(r: Reads, req: PageRequest) -> Account:
    found = r.queries.account(req.path["account_id"])
    if found is None or not req.viewer.may_see(found.key.uid):
        raise Missing(req.path["account_id"])
    return found


def account(r: Reads, req: PageRequest) -> Result:
    acc = _account(r, req)
    filters = entry_filter(req.query)
    page = explorer.account_entries(r.queries, acc, filters, cursor(req.query))
    q = req.query
    return Rendered(
        "account.html",
        {
            "account": acc,
            "page": page,
            "query": q,
            "biz_codes": BIZ_CODES,
            "older": None
            if page.older is None
            else link(q, before=page.older, after=None),
            "newer": None
            if page.newer is None
            else link(q, after=page.newer, before=None),
            "newest": link(q, before=None, after=None),
            "series": f"{acc.id}/balance.json{link(q, before=None, after=None)}",
            "checkpoint": r.queries.checkpoints_of(acc.key.uid).get(acc.id),
        },
    )


def balance_json(r: Reads, req: PageRequest) -> Result:
    acc = _account(r, req)
    series = explorer.balance_series(r.queries, acc, entry_filter(req.query))
    return Json(
        {
            "accountId": acc.id,
            "currency": acc.key.currency,
            "entries": series.entries,
            "read": series.read,
            "sampled": series.sampled,
            # [start, end, count, first, low, high, last]; amounts as text
            "buckets": [_bucket(b) for b in series.buckets],
        }
    )


def _bucket(b: explorer.Bucket) -> list[object]:
    """[start, end, count, first, low, high, last]; amounts as text."""
    return [b.start, b.end, b.count, *map(to_wire, (b.first, b.low, b.high, b.last))]


def operation_page(r: Reads, req: PageRequest) -> Result:
    uid, op_id = req.path["uid"], req.path["op_id"]
    if not req.viewer.may_see(uid):
        raise Missing(uid)
    record = r.services.queries.operation(uid, op_id)
    found = operator.operation_status(r.services.queries, uid, op_id)
    if record is None or found is None:
        raise Missing(f"{uid}/{op_id}")
    result, _ = found
    legs = explorer.operation_legs(r.queries, record, result.entry_ids)
    return Rendered(
        "operation.html",
        {
            "result": result,
            "digest": explorer.record_digest(record),
            "legs": legs,
            "missing": len(result.entry_ids) - len(legs),
        },
    )


def verify(r: Reads, req: PageRequest) -> Result:
    if not req.viewer.is_operator:
        raise Missing("verify")
    after = req.query.get("after") or None
    rows = r.queries.checkpoints(after, explorer.CHECKPOINT_PAGE + 1)
    more = len(rows) > explorer.CHECKPOINT_PAGE
    rows = rows[: explorer.CHECKPOINT_PAGE]
    return Rendered(
        "verify.html",
        {
            "status": r.services.queries.verify_status(),
            "run": r.queries.last_verify_run(),
            "checkpoints": rows,
            "next": rows[-1].account_id if more else None,
            "after": after,
        },
    )
