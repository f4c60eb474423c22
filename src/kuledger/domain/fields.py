"""Reading typed fields from outside input, strictly, naming the field in
every error: the one reader of query strings and JSON bodies (adapted in
http/params.py and http/body.py) and of operation files (domain/operations.py).

An endpoint declares its parameters as a frozen dataclass and reads them with
`read`; each field is read in the order declared, so the first bad one named
is the first declared:

    @dataclass(frozen=True, slots=True)
    class LedgerParams:
        currencies: tuple[str, ...] = codes("currency")
        page_size: int = integer("pageSize", default=50, low=10, high=500)

    params = read(LedgerParams, call.query)

A Source holds what differs between the three inputs, and clients already see
all of it: which values mean "not given", whether NUL is refused, how long a
text may be, and the wording of each error.

Why not msgspec or pydantic: both were tried. They word errors their own way
("Expected `int`, got `str` - at `$.startAt`", never KuCoin's messages), name
the first bad field in the order of the input rather than of the declaration,
read "", "1e5", "NaN" and floats as values, and the domain imports only the
standard library. Mapping their errors back to KuCoin's would be a second
reader beside them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Set
from dataclasses import MISSING, dataclass, field, fields
from decimal import Decimal
from functools import partial
from typing import Any, Literal, TypeVar, overload

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

    def _get(self, name: str) -> object:
        value = self.values.get(name, _ABSENT)
        return _ABSENT if value in self.source.blank else value

    @overload
    def text(self, name: str, default: str, *, max_len: int | None = None) -> str: ...
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
        value = self._get(name)
        if value is _ABSENT:
            if default is None and required:
                raise _required(name)
            return default
        if value is None:
            raise _required(name)
        limit = max_len or self.source.max_len
        if not isinstance(value, str) or not value or (limit and len(value) > limit):
            message = self.source.not_text.format(name=name, max_len=limit)
            raise InvalidInput(name, message)
        if self.source.refuse_nul and "\x00" in value:
            raise InvalidInput(name, f"{name} must not contain NUL")
        return value

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
        default: str,
        *,
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
        if self.source.textual:
            text = self.text(name)
            if text is None:
                return default
            if not _INTEGER.fullmatch(text):
                message = error or self.source.not_integer
                raise InvalidInput(name, message.format(name=name, value=text[:40]))
            number = int(text)
        else:
            value = self._get(name)
            if value is _ABSENT or value is None:
                return default
            if isinstance(value, bool) or not isinstance(value, int):
                message = error or self.source.not_integer
                raise InvalidInput(name, message.format(name=name, value=value))
            number = value
        if not low <= number <= high:
            message = error or self.source.out_of_range
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
        value = self._get(name)
        if value is _ABSENT:
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

T = TypeVar("T")
Reader = Callable[[Fields, str], Any]
_READ = "kuledger.fields"  # the dataclass field metadata key


def _declare(wire: str, reader: Reader, default: object = MISSING) -> Any:
    return field(default=default, kw_only=True, metadata={_READ: (wire, reader)})


def text(wire: str, *, required: bool = False, max_len: int | None = None) -> Any:
    reader = partial(Fields.text, required=required, max_len=max_len)
    return _declare(wire, reader, MISSING if required else None)


def choice(
    wire: str,
    allowed: Collection[str],
    *,
    required: bool = False,
    aliases: Mapping[str, str] | None = None,
) -> Any:
    reader = partial(Fields.choice, allowed=allowed, required=required, aliases=aliases)
    return _declare(wire, reader, MISSING if required else None)


def integer(
    wire: str, *, default: int | None = None, low: int = 0, high: int = MAX_MS
) -> Any:
    reader = partial(Fields.integer, default=default, low=low, high=high)
    return _declare(wire, reader, default)


def codes(wire: str) -> Any:
    return _declare(wire, Fields.codes, ())


def raw_amount(wire: str) -> Any:
    return _declare(wire, Fields.raw_amount)


_PLANS: dict[type, tuple[tuple[str, str, Reader], ...]] = {}


def _plan(cls: type) -> tuple[tuple[str, str, Reader], ...]:
    plan = []
    for f in fields(cls):
        if _READ not in f.metadata:
            raise TypeError(f"{cls.__name__}.{f.name} does not say how it is read")
        wire, reader = f.metadata[_READ]
        plan.append((f.name, wire, reader))
    _PLANS[cls] = tuple(plan)
    return _PLANS[cls]


def read(cls: type[T], values: Fields) -> T:
    """An instance of the declared dataclass `cls`, its fields read in order."""
    plan = _PLANS.get(cls) or _plan(cls)
    return cls(**{name: reader(values, wire) for name, wire, reader in plan})
