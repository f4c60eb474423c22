"""Reading typed fields from outside input, strictly, naming the field in
every error: the one reader of query strings and JSON bodies (adapted in
http/params.py and http/body.py) and of operation files (domain/operations.py).

An endpoint declares its parameters as a NamedTuple, each field annotated
with how it is read, and reads them with `read`:

    class LedgerParams(NamedTuple):
        currencies: Annotated[tuple[str, ...], codes("currency")] = ()
        page_size: Annotated[int, integer("pageSize", low=10, high=500)] = 50

    params = read(LedgerParams, call.query)

A Source holds what differs between the three inputs, and clients already see
all of it: which values mean "not given", whether NUL is refused, how long a
text may be, and the wording of each error.

Why not msgspec or pydantic (both tried on these inputs): they word errors
their own way ("Expected `int`, got `str` - at `$.startAt`", "Input should be
a valid integer"), msgspec names the first bad field in the order of the input,
not of the declaration, pydantic reads " 12" and "1_000" as integers, both take
"1e5" and floats as decimals, and the domain imports only the standard
library. Rebuilding KuCoin's messages from their errors would be a second
reader beside them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Set
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypeVar, get_type_hints, overload

from kuledger.domain.errors import InvalidInput
from kuledger.domain.money import Currency, parse_amount

MAX_MS = 9_999_999_999_999  # KuCoin's schema bound for millisecond times
_INTEGER = re.compile(r"-?[0-9]{1,19}")  # ASCII only: \d takes "١٢" too
_ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class Source:
    """How one kind of input is read. The messages are str.format templates."""

    blank: tuple[object, ...]  # values that mean "not given"
    textual: bool  # every value is text, integers included (a query string)
    refuse_nul: bool  # PostgreSQL text cannot hold NUL
    max_len: int | None  # the longest text, unless a field says otherwise
    not_text: str
    not_allowed: str
    not_integer: str = "{name} must be an integer, got {value!r}"
    out_of_range: str = "{name} must be between {low} and {high}"


QUERY = Source(
    blank=("",),
    textual=True,
    refuse_nul=True,
    max_len=None,
    not_text="{name} must be a string of at most {max_len} chars",
    not_allowed="{name} not in the given range!",
)
BODY = Source(
    blank=(None, ""),
    textual=False,
    refuse_nul=True,
    max_len=128,
    not_text="{name} must be a string of at most {max_len} chars",
    not_allowed="{name} not in the given range",
)
FILE = Source(  # operation files (and the payloads services build)
    blank=(),
    textual=False,
    refuse_nul=False,
    max_len=128,
    not_text="{name} must be a non-empty string of at most {max_len} chars",
    not_allowed="{name} not in the given range: {value!r} (one of {allowed})",
)


def _required(name: str) -> InvalidInput:
    return InvalidInput(name, f"{name} is required")


class Fields:
    """The raw values of one input, read a field at a time."""

    __slots__ = ("source", "values")

    def __init__(self, values: Mapping[str, object], source: Source) -> None:
        self.values = values
        self.source = source

    @overload
    def text(
        self,
        name: str,
        default: str | None = None,
        *,
        required: Literal[True],
        max_len: int | None = None,
    ) -> str: ...
    @overload
    def text(
        self,
        name: str,
        default: str | None = None,
        *,
        required: bool = False,
        max_len: int | None = None,
    ) -> str | None: ...
    def text(
        self,
        name: str,
        default: str | None = None,
        *,
        required: bool = False,
        max_len: int | None = None,
    ) -> str | None:
        """A non-empty string; `default` when not given. A null that is not
        blank in this source (operation files) is "required", not absent."""
        value = self.values.get(name, _ABSENT)
        source = self.source
        if value is _ABSENT or value in source.blank:
            if default is None and required:
                raise _required(name)
            return default
        limit = max_len or source.max_len
        if isinstance(value, str) and value and (limit is None or len(value) <= limit):
            if source.refuse_nul and "\x00" in value:
                raise InvalidInput(name, f"{name} must not contain NUL")
            return value
        if value is None:
            raise _required(name)
        raise InvalidInput(name, source.not_text.format(name=name, max_len=limit))

    @overload
    def choice(
        self,
        name: str,
        allowed: Collection[str],
        default: str | None = None,
        *,
        required: Literal[True],
        aliases: Mapping[str, str] | None = None,
    ) -> str: ...
    @overload
    def choice(
        self,
        name: str,
        allowed: Collection[str],
        default: str | None = None,
        *,
        required: bool = False,
        aliases: Mapping[str, str] | None = None,
    ) -> str | None: ...
    def choice(
        self,
        name: str,
        allowed: Collection[str],
        default: str | None = None,
        *,
        required: bool = False,
        aliases: Mapping[str, str] | None = None,
    ) -> str | None:
        """One of `allowed` (after `aliases`, other spellings clients send)."""
        value = self.text(name, default, required=required)
        if value is None:
            return None
        if aliases:
            value = aliases.get(value, value)
        if value not in allowed:
            message = self.source.not_allowed.format(
                name=name, value=value, allowed=allowed
            )
            raise InvalidInput(name, message)
        return value

    def integer(
        self,
        name: str,
        default: int | None = None,
        *,
        low: int = 0,
        high: int = MAX_MS,
        error: str | None = None,
    ) -> int | None:
        """An integer in [low, high]: ASCII digits in a query string, a JSON
        integer (never a bool) elsewhere; `default` when not given or null.
        `error`, if given, is the one message for every way it can be wrong."""
        source = self.source
        value: Any = self.values.get(name, _ABSENT)
        if value is _ABSENT or value is None or value in source.blank:
            return default
        if source.textual:
            if not _INTEGER.fullmatch(value):  # (NUL never matches)
                self.text(name)  # the NUL error first, as for any text
                message = error or source.not_integer
                raise InvalidInput(name, message.format(name=name, value=value[:40]))
            number = int(value)
        elif isinstance(value, bool) or not isinstance(value, int):
            message = error or source.not_integer
            raise InvalidInput(name, message.format(name=name, value=value))
        else:
            number = value
        if not low <= number <= high:
            message = error or source.out_of_range
            raise InvalidInput(name, message.format(name=name, low=low, high=high))
        return number

    def codes(self, name: str) -> tuple[str, ...]:
        """Comma-separated codes ("BTC,ETH"), blanks dropped, each once."""
        value = self.text(name)
        if value is None:
            return ()
        return tuple(
            dict.fromkeys(part.strip() for part in value.split(",") if part.strip())
        )

    def amount(
        self,
        name: str,
        currency: Currency,
        default: str | None = None,
        *,
        allow_zero: bool = False,
    ) -> Decimal:
        """A plain decimal string within the currency's precision (parse_amount)."""
        value = self.values.get(name, _ABSENT)
        if value is _ABSENT or value in self.source.blank:
            if default is None:
                raise _required(name)
            value = default
        return parse_amount(value, currency, name, allow_zero=allow_zero)

    def raw_amount(self, name: str) -> object:
        """An amount whose currency is not known yet, as given: parse_amount
        checks it later. A float is refused now: it is never exact."""
        value = self.values.get(name)
        if value is None:
            raise _required(name)
        if isinstance(value, float | bool):
            raise InvalidInput(name, f"{name} must be a decimal string")
        return value

    def only(self, allowed: Set[str], owner: str) -> None:
        """Refuse fields not in `allowed`, naming the first (sorted)."""
        unknown = self.values.keys() - allowed
        if unknown:
            names = sorted(unknown)
            message = f"unknown field(s) for {owner}: {', '.join(names)}"
            raise InvalidInput(names[0], message)


# --- declared parameters ------------------------------------------------------

T = TypeVar("T", bound=tuple[Any, ...])


@dataclass(frozen=True, slots=True)
class Param:
    """How a declared field is read: its name in the input, and its reader,
    called with the Fields, that name and the field's default."""

    wire: str
    read: Callable[[Fields, str, Any], Any]


def text(wire: str, *, required: bool = False, max_len: int | None = None) -> Param:
    return Param(wire, lambda f, n, d: f.text(n, d, required=required, max_len=max_len))


def choice(
    wire: str,
    allowed: Collection[str],
    *,
    required: bool = False,
    aliases: Mapping[str, str] | None = None,
) -> Param:
    return Param(
        wire,
        lambda f, n, d: f.choice(n, allowed, d, required=required, aliases=aliases),
    )


def integer(wire: str, *, low: int = 0, high: int = MAX_MS) -> Param:
    return Param(wire, lambda f, n, d: f.integer(n, d, low=low, high=high))


def codes(wire: str) -> Param:
    return Param(wire, lambda f, n, d: f.codes(n))


def raw_amount(wire: str) -> Param:
    return Param(wire, lambda f, n, d: f.raw_amount(n))


_Plan = tuple[tuple[Callable[[Fields, str, Any], Any], str, Any], ...]
_PLANS: dict[type, _Plan] = {}


def _plan(cls: type) -> _Plan:
    hints = get_type_hints(cls, include_extras=True)
    defaults = cls._field_defaults  # type: ignore[attr-defined]
    plan = []
    for name in cls._fields:  # type: ignore[attr-defined]
        extras = getattr(hints[name], "__metadata__", ())
        found = [m for m in extras if isinstance(m, Param)]
        if len(found) != 1:
            raise TypeError(f"{cls.__name__}.{name}: say how it is read (one Param)")
        plan.append((found[0].read, found[0].wire, defaults.get(name)))
    _PLANS[cls] = tuple(plan)
    return _PLANS[cls]


def read(cls: type[T], values: Fields) -> T:
    """The NamedTuple `cls`, each field read by the Param in its annotation,
    in the order declared (so the first bad field named is the first declared).
    A NamedTuple, not a frozen dataclass: building one is several times faster."""
    plan = _PLANS.get(cls) or _plan(cls)
    return tuple.__new__(cls, [reader(values, wire, d) for reader, wire, d in plan])
