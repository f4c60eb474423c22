"""The one field reader: each source's tolerance and wording, and declared
parameters read in the order declared."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kuledger.domain.errors import InvalidAmount, InvalidInput
from kuledger.domain.fields import (
    BODY,
    FILE,
    MAX_MS,
    QUERY,
    Fields,
    Source,
    choice,
    codes,
    integer,
    raw_amount,
    read,
    text,
)
from kuledger.domain.money import Currency

BTC = Currency("BTC", 8, "Bitcoin")


def fails(fields: Fields, method: str, *args: Any, **kwargs: Any) -> tuple[str, str]:
    """(field, message) of the InvalidInput the call raises."""
    with pytest.raises(InvalidInput) as caught:
        getattr(fields, method)(*args, **kwargs)
    return caught.value.field, caught.value.message


def q(**values: str) -> Fields:
    return Fields(values, QUERY)


def body(**values: object) -> Fields:
    return Fields(values, BODY)


def file(**values: object) -> Fields:
    return Fields(values, FILE)


# --- missing and blank --------------------------------------------------------


@pytest.mark.parametrize("source", [QUERY, BODY, FILE])
def test_a_missing_field_is_its_default_or_required(source: Source) -> None:
    fields = Fields({}, source)
    assert fields.text("currency") is None
    assert fields.text("account", "main") == "main"
    assert fields.integer("pageSize", 50) == 50
    assert fields.codes("currency") == ()
    assert fails(fields, "text", "uid", required=True) == ("uid", "uid is required")


def test_an_empty_query_value_is_not_given() -> None:
    assert q(currency="").text("currency") is None
    assert q(pageSize="").integer("pageSize", 50) == 50
    assert fails(q(currency=""), "text", "currency", required=True) == (
        "currency",
        "currency is required",
    )


@pytest.mark.parametrize("blank", [None, ""])
def test_a_null_or_empty_body_value_is_not_given(blank: object) -> None:
    assert body(toUserId=blank).text("toUserId") is None
    assert fails(body(clientOid=blank), "text", "clientOid", required=True) == (
        "clientOid",
        "clientOid is required",
    )


def test_in_an_operation_file_null_is_required_even_with_a_default() -> None:
    assert fails(file(account=None), "text", "account", "main") == (
        "account",
        "account is required",
    )
    assert fails(file(uid=""), "text", "uid", required=True) == (
        "uid",
        "uid must be a non-empty string of at most 128 chars",
    )


# --- wrong type, too long, NUL ------------------------------------------------


@pytest.mark.parametrize("value", [1, 1.5, True, [], {}, "x" * 33])
def test_a_body_text_must_be_a_short_string(value: object) -> None:
    assert fails(body(currency=value), "text", "currency", max_len=32) == (
        "currency",
        "currency must be a string of at most 32 chars",
    )


def test_a_body_text_is_at_most_128_chars_unless_declared() -> None:
    assert body(clientOid="x" * 128).text("clientOid") == "x" * 128
    assert fails(body(clientOid="x" * 129), "text", "clientOid")[1] == (
        "clientOid must be a string of at most 128 chars"
    )


def test_a_query_text_has_no_length_limit() -> None:
    assert q(currency="x" * 5000).text("currency") == "x" * 5000


@pytest.mark.parametrize("make", [q, body])
def test_nul_is_refused_at_the_edge(make: Any) -> None:
    assert fails(make(bizType="a\x00b"), "text", "bizType") == (
        "bizType",
        "bizType must not contain NUL",
    )
    assert fails(make(direction="\x00"), "choice", "direction", ("in", "out"))[1] == (
        "direction must not contain NUL"
    )


def test_nul_is_kept_in_an_operation_file() -> None:
    assert file(symbol="a\x00b").text("symbol") == "a\x00b"


# --- choices ------------------------------------------------------------------


def test_each_source_words_a_bad_choice_its_own_way() -> None:
    allowed = ("in", "out")
    assert fails(q(direction="IN"), "choice", "direction", allowed)[1] == (
        "direction not in the given range!"
    )
    assert fails(body(direction="IN"), "choice", "direction", allowed)[1] == (
        "direction not in the given range"
    )
    assert fails(file(direction="IN"), "choice", "direction", allowed)[1] == (
        "direction not in the given range: 'IN' (one of ('in', 'out'))"
    )


def test_a_choice_takes_its_aliases() -> None:
    fields = q(type="RealizedPNL")
    aliases = {"RealizedPNL": "RealisedPNL"}
    assert fields.choice("type", ("RealisedPNL",), aliases=aliases) == "RealisedPNL"


# --- integers -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["abc", "1.0", " 1", "+1", "1e3", "\u0661\u0662", "9" * 20, "0x10"]
)
def test_a_query_integer_is_ascii_digits(value: str) -> None:
    assert fails(q(startAt=value), "integer", "startAt") == (
        "startAt",
        f"startAt must be an integer, got {value[:40]!r}",
    )


def test_a_long_bad_integer_is_shown_cut_to_40_chars() -> None:
    message = fails(q(startAt="y" * 100), "integer", "startAt")[1]
    assert message == f"startAt must be an integer, got {'y' * 40!r}"


def test_a_query_integer_with_nul_says_nul() -> None:
    assert fails(q(startAt="1\x00"), "integer", "startAt")[1] == (
        "startAt must not contain NUL"
    )


@pytest.mark.parametrize(("value", "ok"), [("9", False), ("10", True), ("500", True)])
def test_integer_bounds_are_inclusive(value: str, ok: bool) -> None:
    fields = q(pageSize=value)
    if ok:
        assert fields.integer("pageSize", 50, low=10, high=500) == int(value)
    else:
        assert fails(fields, "integer", "pageSize", 50, low=10, high=500)[1] == (
            "pageSize must be between 10 and 500"
        )


def test_a_time_is_at_most_max_ms_by_default() -> None:
    assert q(endAt=str(MAX_MS)).integer("endAt") == MAX_MS
    assert fails(q(endAt=str(MAX_MS + 1)), "integer", "endAt")[1] == (
        f"endAt must be between 0 and {MAX_MS}"
    )
    assert fails(q(endAt="-1"), "integer", "endAt")[1] == (
        f"endAt must be between 0 and {MAX_MS}"
    )


@pytest.mark.parametrize("value", ["1", True, 1.0, -1, 10**13, []])
def test_a_json_integer_is_a_json_integer_with_one_message(value: object) -> None:
    error = "at must be a time in integer milliseconds"
    assert fails(file(at=value), "integer", "at", error=error) == ("at", error)


def test_a_json_integer_may_be_null() -> None:
    assert file(at=None).integer("at") is None
    assert file(at=1_700_000_000_000).integer("at") == 1_700_000_000_000


@given(st.text(max_size=25))
def test_a_query_integer_is_read_exactly_when_it_is_plain_ascii(value: str) -> None:
    body_ = value[1:] if value.startswith("-") else value
    plain = 1 <= len(body_) <= 19 and body_.isascii() and body_.isdigit()
    fields = q(n=value)
    if value == "":
        assert fields.integer("n", high=10**19) is None
    elif "\x00" not in value and plain and int(value) >= 0:
        assert fields.integer("n", high=10**19) == int(value)
    else:
        with pytest.raises(InvalidInput):
            fields.integer("n", high=10**19)


# --- codes, amounts, unknown fields ---------------------------------------------


def test_codes_are_split_trimmed_and_kept_once_in_order() -> None:
    assert q(currency="BTC, ETH,,BTC ,USDT").codes("currency") == (
        "BTC",
        "ETH",
        "USDT",
    )
    assert q(currency=" , ").codes("currency") == ()


def test_an_amount_is_a_plain_decimal_within_precision() -> None:
    fields = file(amount="1.5", fee="0.000000001", size="1e3", zero="0")
    assert fields.amount("amount", BTC) == Decimal("1.5")
    assert fields.amount("missing", BTC, "0", allow_zero=True) == Decimal(0)
    assert fails(fields, "amount", "missing", BTC) == (
        "missing",
        "missing is required",
    )
    with pytest.raises(InvalidAmount, match="more than 8 decimals"):
        fields.amount("fee", BTC)
    with pytest.raises(InvalidAmount, match="plain positive decimal"):
        fields.amount("size", BTC)
    with pytest.raises(InvalidAmount, match="greater than zero"):
        fields.amount("zero", BTC)


@pytest.mark.parametrize("value", [1.5, True])
def test_a_raw_amount_is_never_a_float(value: object) -> None:
    assert fails(body(amount=value), "raw_amount", "amount") == (
        "amount",
        "amount must be a decimal string",
    )


def test_a_raw_amount_is_kept_as_given_for_its_currency_to_check() -> None:
    assert body(amount="").raw_amount("amount") == ""
    assert body(amount=10).raw_amount("amount") == 10
    assert fails(body(amount=None), "raw_amount", "amount")[1] == "amount is required"


def test_unknown_fields_are_named_sorted() -> None:
    fields = file(op="deposit", zeta=1, alpha=2)
    assert fails(fields, "only", frozenset({"op"}), "deposit") == (
        "alpha",
        "unknown field(s) for deposit: alpha, zeta",
    )
    fields.only(frozenset({"op", "zeta", "alpha"}), "deposit")  # nothing unknown


# --- declared parameters --------------------------------------------------------


class PageParams(NamedTuple):
    currencies: Annotated[tuple[str, ...], codes("currency")] = ()
    direction: Annotated[str | None, choice("direction", ("in", "out"))] = None
    start_at: Annotated[int | None, integer("startAt")] = None
    page_size: Annotated[int, integer("pageSize", low=10, high=500)] = 50


class TransferBody(NamedTuple):
    client_oid: Annotated[str, text("clientOid", required=True)]
    amount: Annotated[object, raw_amount("amount")]
    kind: Annotated[str, choice("type", ("INTERNAL",), required=True)]
    to_uid: Annotated[str | None, text("toUserId", max_len=4)] = None


class Undeclared(NamedTuple):
    page: int = 1


def test_declared_parameters_take_their_defaults() -> None:
    assert read(PageParams, q()) == PageParams()
    assert read(PageParams, q(currency="BTC,ETH", pageSize="10")) == PageParams(
        currencies=("BTC", "ETH"), page_size=10
    )


def test_declared_parameters_are_read_in_the_order_declared() -> None:
    bad = q(pageSize="1", startAt="x", direction="up")
    assert fails_read(PageParams, bad) == (
        "direction",
        "direction not in the given range!",
    )
    assert fails_read(PageParams, q(pageSize="1", startAt="x"))[0] == "startAt"


def test_a_declared_body_names_its_first_missing_field() -> None:
    assert fails_read(TransferBody, body()) == ("clientOid", "clientOid is required")
    assert fails_read(TransferBody, body(clientOid="c", amount="1"))[1] == (
        "type is required"
    )
    read_ = read(TransferBody, body(clientOid="c", amount="1", type="INTERNAL"))
    assert read_ == TransferBody("c", "1", "INTERNAL", None)
    too_long = body(clientOid="c", amount="1", type="INTERNAL", toUserId="12345")
    assert fails_read(TransferBody, too_long)[1] == (
        "toUserId must be a string of at most 4 chars"
    )


def test_unknown_parameters_are_ignored_at_the_edge() -> None:
    assert read(PageParams, q(tag="x")) == PageParams()


def test_a_field_that_does_not_say_how_it_is_read_is_a_mistake() -> None:
    with pytest.raises(TypeError, match=r"Undeclared\.page"):
        read(Undeclared, q())


def fails_read(cls: type[Any], fields: Fields) -> tuple[str, str]:
    with pytest.raises(InvalidInput) as caught:
        read(cls, fields)
    return caught.value.field, caught.value.message
